"""Ingest end to end: the real clients against the real sandbox over HTTP, into DuckDB."""

from shopper_pipelines.inventory.search import OfferFilters, search_offers, snapshot_status
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.settings import load_settings
from shopper_pipelines.warehouse import connect
from tests.sandbox_support import advance, queue_faults


def _settings(db_path, url, **extra):
    return load_settings(database_path=db_path, sandbox_url=url, http_max_attempts=3, **extra)


def _snapshots(db_path):
    return {row["provider"]: row for row in snapshot_status(db_path, limit=2)}


def test_ingest_from_sandbox_stores_both_providers(db_path, sandbox_url):
    outcomes = ingest(_settings(db_path, sandbox_url))
    assert [(o.snapshot.provider, o.snapshot.status) for o in outcomes] == [
        ("vastai", "ok"),
        ("tensordock", "ok"),
    ]
    vast, tensordock = (o.snapshot for o in outcomes)
    assert vast.offers_stored > 1000
    assert tensordock.offers_stored > 50
    assert vast.source == "sandbox"
    # The sandbox market includes records a normaliser must skip; they are counted.
    assert sum((vast.skipped or {}).values()) > 0
    assert vast.offers_stored + sum((vast.skipped or {}).values()) == vast.offers_seen
    with connect(db_path, read_only=True) as con:
        providers = con.execute(
            "SELECT provider, count(*) FROM offers_current GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [p for p, _ in providers] == ["tensordock", "vastai"]


def test_ingest_again_after_churn_writes_only_changes(db_path, fresh_sandbox_url):
    settings = _settings(db_path, fresh_sandbox_url)
    first = ingest(settings, ("vastai",))[0].merge
    advance(fresh_sandbox_url, 1)
    second = ingest(settings, ("vastai",))[0].merge
    assert first is not None and second is not None
    assert second.appeared + second.changed + second.disappeared > 0
    assert second.appeared + second.changed + second.disappeared < first.appeared / 4


def test_ingest_429_then_success(db_path, fresh_sandbox_url):
    queue_faults(fresh_sandbox_url, "vastai.offers", {"status": 429})
    outcome = ingest(_settings(db_path, fresh_sandbox_url), ("vastai",))[0]
    assert outcome.snapshot.status == "ok"
    assert outcome.snapshot.offers_stored > 0


def test_ingest_5xx_exhaustion_records_failure_and_spares_other_provider(
    db_path, fresh_sandbox_url, caplog
):
    queue_faults(fresh_sandbox_url, "vastai.offers", *[{"status": 503}] * 3)
    outcomes = ingest(_settings(db_path, fresh_sandbox_url))
    assert [o.snapshot.status for o in outcomes] == ["failed", "ok"]
    rows = _snapshots(db_path)
    assert rows["vastai"]["status"] == "failed"
    assert "gave up after 3 attempts" in rows["vastai"]["error"]
    assert "HTTP 503" in rows["vastai"]["error"]
    assert rows["tensordock"]["status"] == "ok"
    assert any("vastai: snapshot failed" in r.getMessage() for r in caplog.records)
    assert search_offers(db_path, OfferFilters(provider="tensordock")).total > 0


def test_ingest_malformed_json_records_failure(db_path, fresh_sandbox_url):
    queue_faults(fresh_sandbox_url, "tensordock.locations", {"status": 200, "raw": "{not json"})
    outcomes = ingest(_settings(db_path, fresh_sandbox_url))
    assert [o.snapshot.status for o in outcomes] == ["ok", "failed"]
    assert "unreadable JSON" in (_snapshots(db_path)["tensordock"]["error"] or "")


def test_ingest_failure_keeps_previous_offers_current(db_path, fresh_sandbox_url):
    settings = _settings(db_path, fresh_sandbox_url)
    ingest(settings, ("tensordock",))
    before = search_offers(db_path, OfferFilters(provider="tensordock")).total
    queue_faults(fresh_sandbox_url, "tensordock.locations", *[{"status": 500}] * 3)
    ingest(settings, ("tensordock",))
    assert search_offers(db_path, OfferFilters(provider="tensordock")).total == before


def test_ingest_provider_without_keys_is_skipped_with_a_row(db_path, fresh_sandbox_url, caplog):
    # A Vast key is set (pointed at the sandbox); TensorDock has none and is skipped.
    settings = _settings(
        db_path, fresh_sandbox_url, vastai_api_key="k", vastai_url=fresh_sandbox_url
    )
    caplog.set_level("INFO")
    outcomes = ingest(settings)
    assert [(o.snapshot.provider, o.snapshot.status) for o in outcomes] == [
        ("vastai", "ok"),
        ("tensordock", "skipped"),
    ]
    lines = [r.getMessage() for r in caplog.records if "tensordock" in r.getMessage()]
    assert lines == ["no credentials set for tensordock; skipped"]  # one line, not one per call
    skipped = _snapshots(db_path)["tensordock"]
    assert skipped["status"] == "skipped"
    assert "no credentials" in skipped["error"]
    assert outcomes[0].snapshot.source == "live"  # a keyed provider is never marked sandbox
