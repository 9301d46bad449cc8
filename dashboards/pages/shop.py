"""Shop: filter the current offers, see one GPU's price history, and rent an offer.

The private key of a new session is shown once, as a download button. It lives only in a
local variable of the run that made it: never in st.session_state, a file or a log line.
Streamlit holds the button's bytes in its in-memory media store while the page shows the
button and drops them after a later run no longer shows it, so any rerun (a widget
change, a reload) removes the button for good; the note beside it says to save it now.
"""

import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import streamlit as st

from dashboards import charts, data, provisioning, shop_tokens
from shopper_pipelines.errors import InvalidInputError, ShopperError
from shopper_pipelines.inventory.search import MAX_LIMIT, OfferFilters
from shopper_pipelines.sessions.models import MAX_HOURS, MIN_HOURS, SessionRequest, Workload
from shopper_pipelines.sessions.provision import Requested
from shopper_pipelines.settings import PROVIDERS, Settings

ANY = "Any"
EMPTY_HINT = (
    "The warehouse has no offers yet. Fetch some with `uv run gpu-shopper ingest` "
    "(or start everything with `uv run gpu-shopper up`), then reload this page."
)
SANDBOX_BANNER = "SANDBOX — offers come from the built-in sandbox marketplace, not a real provider."
_MONEY = "$%.3f"
SESSIONS_PAGE = Path(__file__).with_name("sessions.py")
FOCUS_KEY = "focus_session"  # the session the Sessions page opens on (an id, no secret)
WORKLOADS = [workload.value for workload in Workload]
LAST_REQUEST_KEY = "last_provision_request"  # (fields, session id, when): no double rent
RESUBMIT_S = 60
KEY_NOTE = (
    "Save the private key now: it is not stored anywhere and this button disappears on "
    "the next page update. Lost it? Re-key the running session with "
    "`uv run gpu-shopper sessions rekey SESSION_ID --save-key NEW_KEY_FILE`."
)
TABLE_COLUMNS = {
    "provider": st.column_config.TextColumn("Provider"),
    "gpu_model": st.column_config.TextColumn("GPU"),
    "gpu_count": st.column_config.NumberColumn("GPUs", format="%d"),
    "vram_gb": st.column_config.NumberColumn("VRAM / GPU (GB)", format="%.0f"),
    "total_vram_gb": st.column_config.NumberColumn("Total VRAM (GB)", format="%.0f"),
    "price_per_hour": st.column_config.NumberColumn("$/h", format=_MONEY),
    "interruptible_price_per_hour": st.column_config.NumberColumn(
        "Interruptible $/h", format=_MONEY
    ),
    "country": st.column_config.TextColumn("Country"),
    "location": st.column_config.TextColumn("Location"),
    "reliability": st.column_config.NumberColumn("Reliability", format="percent"),
    "cuda": st.column_config.NumberColumn("CUDA", format="%.1f"),
}


def _age(started_at: datetime) -> str:
    minutes = int((datetime.now(UTC) - started_at).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def show_freshness(latest: pl.DataFrame) -> None:
    """One caption line for the latest snapshot per provider; a warning per failure."""
    parts = []
    for row in latest.iter_rows(named=True):
        parts.append(f"{row['provider']}: {row['status']} {_age(row['started_at'])}")
        if row["status"] == "failed":
            st.warning(f"Last {row['provider']} snapshot failed: {row['error']}")
    if parts:
        st.caption("Last snapshots — " + " · ".join(parts))


def filter_widgets(gpu_choices: list[str]) -> OfferFilters:
    """The sidebar filters as OfferFilters; raises InvalidInputError on bad values."""
    bar = st.sidebar
    bar.header("Filters")
    provider = bar.selectbox("Provider", [ANY, *PROVIDERS], key="provider")
    gpu = bar.selectbox("GPU model", [ANY, *gpu_choices], key="gpu")
    min_vram = bar.number_input("Min VRAM per GPU (GB)", value=None, step=8.0, key="min_vram")
    min_total_vram = bar.number_input(
        "Min total VRAM (GB)", value=None, step=8.0, key="min_total_vram"
    )
    max_price = bar.number_input(
        "Max $/h",
        value=None,
        step=0.05,
        format="%.2f",
        help="Per offer, all its GPUs; with 'Interruptible only', the interruptible price.",
        key="max_price",
    )
    min_gpus = bar.number_input("Min GPUs", value=None, step=1, key="min_gpus")
    country = bar.text_input("Country codes", placeholder="US, DE", key="country")
    min_reliability = bar.number_input(
        "Min reliability (0-1)", value=None, step=0.05, format="%.2f", key="min_reliability"
    )
    min_cuda = bar.number_input("Min CUDA", value=None, step=0.1, format="%.1f", key="min_cuda")
    interruptible = bar.checkbox("Interruptible only", key="interruptible")
    sort = bar.selectbox("Sort by", shop_tokens.SORT_CHOICES, key=shop_tokens.SORT_KEY)
    limit = bar.number_input("Rows to show", 1, MAX_LIMIT, value=100, step=50, key="limit")
    return OfferFilters(
        provider=None if provider == ANY else provider,
        gpu=None if gpu == ANY else gpu,
        min_vram=min_vram,
        min_total_vram=min_total_vram,
        max_price=max_price,
        min_gpus=None if min_gpus is None else int(min_gpus),
        country=country.strip() or None,
        min_reliability=min_reliability,
        min_cuda=min_cuda,
        interruptible=interruptible,
        sort=shop_tokens.inventory_sort(sort),
        limit=int(limit),
    )


def show_price_history(db_path: Path, filters: OfferFilters) -> None:
    """The chosen GPU's price history, or that of the cheapest matching offer's GPU."""
    gpu = filters.gpu
    if gpu is None:
        gpu = data.cheapest_gpu_model(db_path, filters)
        if gpu is None:
            return
        st.caption(f"No GPU model picked: showing {gpu}, the GPU of the cheapest match.")
    window = st.radio(
        "History window",
        list(data.WINDOWS),
        index=list(data.WINDOWS).index(data.DEFAULT_WINDOW),
        horizontal=True,
        key="window",
    )
    history = data.history(db_path, gpu, window)
    if history.is_empty() and window != "all":
        history = data.history(db_path, gpu, "all")
        if not history.is_empty():
            st.caption(f"No {gpu} prices in the last {window}: showing all history.")
    if history.is_empty():
        st.info(f"No price history for {gpu} yet; every ingest adds a point.")
        return
    st.altair_chart(charts.price_history_chart(history, gpu), width="stretch")


def _offer_label(row: dict) -> str:
    return (
        f"{row['id']} — {row['gpu_model']} x{row['gpu_count']}, "
        f"${row['price_per_hour']:.3f}/h, {row['country'] or '?'}"
    )


def provision_form(settings: Settings, offers: pl.DataFrame) -> None:
    """Rent one of the shown offers: request it, start provisioning, hand over the key."""
    st.subheader("Provision")
    labels = {row["id"]: _offer_label(row) for row in offers.iter_rows(named=True)}
    with st.form("provision"):
        offer_id = st.selectbox(
            "Offer", list(labels), format_func=labels.__getitem__, key="provision_offer"
        )
        left, middle, right, last = st.columns(4)
        consumer_id = left.text_input(
            "Consumer id", placeholder="team-or-user", key="provision_consumer"
        )
        hours = middle.number_input(
            "Hours", MIN_HOURS, MAX_HOURS, value=MIN_HOURS, step=1, key="provision_hours"
        )
        workload = right.selectbox(
            "Workload",
            WORKLOADS,
            index=WORKLOADS.index(Workload.INTERACTIVE.value),
            key="provision_workload",
        )
        idle = last.number_input(
            "Idle timeout (min)",
            value=None,
            step=5,
            help="Stop the session after the GPU idles this long; empty: no idle stop.",
            key="provision_idle",
        )
        submitted = st.form_submit_button("Provision", type="primary")
    if not submitted or offer_id is None:
        return
    fingerprint = (offer_id, consumer_id.strip(), int(hours), workload, idle)
    previous = st.session_state.get(LAST_REQUEST_KEY)
    if previous and previous[0] == fingerprint and time.monotonic() - previous[2] < RESUBMIT_S:
        # Enter in a field submits the form; a click right after must not rent twice.
        st.warning(
            f"This exact request was just made as `{previous[1]}`; change something or wait "
            f"{RESUBMIT_S} seconds to rent another."
        )
        return
    try:
        request = SessionRequest(
            consumer_id=consumer_id.strip(),
            workload=Workload(workload),
            hours=int(hours),
            idle_timeout_min=None if idle is None else int(idle),
        )
        requested = data.request_offer(settings, request, offer_id)
    except InvalidInputError as error:
        st.error(str(error))
        return
    st.session_state[LAST_REQUEST_KEY] = (
        fingerprint,
        requested.session.session_id,
        time.monotonic(),
    )
    provisioning.start(requested.session.session_id)
    show_key_once(requested)


def show_key_once(requested: Requested) -> None:
    """The new session's summary, its private key as a download, and where to follow it."""
    session = requested.session
    st.success(
        f"Session `{session.session_id}` requested: {session.gpu_model} x{session.gpu_count}"
        f" on {session.provider} at ${session.price_per_hour:.3f}/h. Provisioning has started."
    )
    st.warning(KEY_NOTE)
    st.download_button(
        "Download private key",
        data=requested.private_key,
        file_name=f"{session.session_id}.key",
        mime="application/octet-stream",
        on_click="ignore",  # a click must not rerun the page, which would drop the key
        type="primary",
        key="private_key_download",
    )
    st.session_state[FOCUS_KEY] = session.session_id
    st.page_link(SESSIONS_PAGE, label="Follow it on the Sessions page")


def render() -> None:
    """Widgets, then data, then the chart, then the table and the provision form."""
    st.title("Shop")
    settings = data.settings()
    db_path = settings.database_path
    if not data.warehouse_exists(db_path):
        st.info(EMPTY_HINT)
        return
    if "sandbox" in data.sources(db_path):
        st.warning(SANDBOX_BANNER)
    show_freshness(data.snapshots(db_path))

    try:
        filters = filter_widgets(data.gpu_choices(db_path))
    except InvalidInputError as error:
        st.error(str(error))
        return

    page = data.offers(db_path, filters)
    if page.total == 0:
        if data.offers(db_path, OfferFilters(limit=1)).total == 0:
            st.info(EMPTY_HINT)
            return
        st.info("No offers match these filters; loosen one to see more.")
    else:
        more = page.total > page.offers.height
        shown = f" (showing the first {page.offers.height})" if more else ""
        st.caption(f"{page.total:,} offers match{shown}")

    show_price_history(db_path, filters)
    if not page.total:
        return
    if shop_tokens.chosen():
        offers = shop_tokens.show_ranking(db_path, filters)
    else:
        offers = page.offers
        st.dataframe(
            offers, hide_index=True, column_order=list(TABLE_COLUMNS), column_config=TABLE_COLUMNS
        )
    if not offers.is_empty():
        provision_form(settings, offers)


try:
    render()
except ShopperError as error:
    st.error(str(error))
