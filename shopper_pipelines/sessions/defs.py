"""Sessions' Dagster definitions: provision, destroy and reconcile jobs; the sensors and
schedules that make cleanup happen without anyone watching; run-failure alerts."""

from datetime import UTC, datetime

from dagster import (
    Config,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    OpExecutionContext,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    in_process_executor,
    job,
    op,
    run_failure_sensor,
    schedule,
    sensor,
)

from shopper_pipelines.resources import RESOURCES, ShopperSettings
from shopper_pipelines.sessions import lifecycle, reconcile, store
from shopper_pipelines.sessions.deployment import deployment_id
from shopper_pipelines.sessions.models import SessionRequest, Status, StoragePolicy, Workload
from shopper_pipelines.sessions.provision import pick_offer, provision_session, request_session
from shopper_pipelines.settings import get_settings

PENDING_PICKUP_S = 20  # the CLI claims its own sessions at once; the sensor takes the rest
# How often the limits sensor looks: with run start-up, expiry-to-destroy stays under 30 s.
LIMITS_SENSOR_INTERVAL_S = 10
RETRY_BUCKET_S = 600  # an unconfirmed destroy gets a fresh run key every 10 minutes


class ProvisionConfig(Config):
    """Provision a pending session by id, or request a new one (its key is not shown:
    get one with `gpu-shopper sessions rekey`)."""

    session_id: str | None = None
    consumer_id: str | None = None
    gpu: str | None = None
    offer_id: str | None = None
    hours: int = 1
    workload: str = "interactive"
    idle_timeout_min: int | None = None


class DestroyConfig(Config):
    session_id: str
    reason: str = "delete"


@op
def provision_session_op(
    context: OpExecutionContext, config: ProvisionConfig, shopper: ShopperSettings
) -> str:
    """Rent the session's offer (failing over when gone) and wait until SSH works."""
    settings = shopper.load()
    session_id = config.session_id
    if session_id is None:
        if not config.consumer_id:
            raise ValueError("config needs session_id, or consumer_id with gpu or offer_id")
        request = SessionRequest(config.consumer_id, Workload(config.workload), config.hours,
                                 config.idle_timeout_min, StoragePolicy.DESTROY)  # fmt: skip
        offer = pick_offer(settings, offer_id=config.offer_id, gpu=config.gpu)
        session_id = request_session(settings, request, offer).session.session_id
        context.log.info("requested %s; get its key with `gpu-shopper sessions rekey`", session_id)

    session = provision_session(settings, session_id, progress=context.log.info)

    context.log.info(
        "session %s is %s (%s)", session_id, session.status.value, session.status_reason
    )
    if session.status is not Status.RUNNING:
        raise RuntimeError(
            f"session {session_id} ended {session.status.value}: {session.status_reason}"
        )
    return session_id


@op
def destroy_session_op(
    context: OpExecutionContext, config: DestroyConfig, shopper: ShopperSettings
) -> None:
    """Stop one session through verified destroy."""
    settings = shopper.load()
    session = lifecycle.stop_for(settings, lifecycle.StopReason(config.session_id, config.reason))
    context.log.info(
        "session %s is %s (%s)", session.session_id, session.status.value, session.status_reason
    )
    if session.status is not Status.TERMINATED:
        raise RuntimeError(
            f"destroy of {session.session_id} not confirmed: {session.status_reason}"
        )


@op
def reconcile_op(context: OpExecutionContext, shopper: ShopperSettings) -> None:
    """List every instance on every provider account and settle the differences."""
    reports = reconcile.reconcile(shopper.load())
    for report in reports:
        context.log.info("%s", report)
    failed = [r for r in reports if r.error or r.orphans_failed]
    if failed:
        raise RuntimeError(
            "; ".join(f"{r.provider}: {r.error or r.orphans_failed}" for r in failed)
        )


@op
def sample_activity_op(context: OpExecutionContext, shopper: ShopperSettings) -> None:
    """Sample GPU utilisation of running sessions that have an idle timeout."""
    settings = shopper.load()
    running = store.list_sessions(settings.database_path, statuses=frozenset({Status.RUNNING}))
    for session in running:
        if session.idle_timeout_min:
            peak = lifecycle.sample_activity(settings, session.session_id)
            context.log.info("%s: GPU utilisation %s%%", session.session_id, peak)


@job(tags={"capability": "sessions"}, executor_def=in_process_executor)
def provision_session_job() -> None:
    provision_session_op()


@job(tags={"capability": "sessions"}, executor_def=in_process_executor)
def destroy_session_job() -> None:
    destroy_session_op()


@job(tags={"capability": "sessions"}, executor_def=in_process_executor)
def reconcile_job() -> None:
    reconcile_op()


@job(tags={"capability": "sessions"}, executor_def=in_process_executor)
def sample_activity_job() -> None:
    sample_activity_op()


def _run_config(op_name: str, **values: object) -> dict:
    return {"ops": {op_name: {"config": values}}}


@sensor(job=provision_session_job, minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING)  # fmt: skip
def provision_requests_sensor(context: SensorEvaluationContext):
    """Queue one provisioning run per requested (pending) session; run keys: once each."""
    settings = get_settings()
    now = datetime.now(UTC)
    pending = store.list_sessions(
        settings.database_path,
        statuses=frozenset({Status.PENDING}),
        deployment_id=deployment_id(settings),
    )
    for session in pending:
        if (now - session.created_at).total_seconds() >= PENDING_PICKUP_S:
            yield RunRequest(
                run_key=f"provision:{session.session_id}",
                run_config=_run_config("provision_session_op", session_id=session.session_id),
                tags={"session_id": session.session_id},
            )


@sensor(job=destroy_session_job, minimum_interval_seconds=LIMITS_SENSOR_INTERVAL_S,
        default_status=DefaultSensorStatus.RUNNING)  # fmt: skip
def session_limits_sensor(context: SensorEvaluationContext):
    """One destroy run per session and reason: expiry, hard max, idle, stuck, retries."""
    settings = get_settings()
    bucket = int(datetime.now(UTC).timestamp() // RETRY_BUCKET_S)
    for due in lifecycle.due_for_stop(settings):
        run_key = due.run_key if due.reason != "retry_destroy" else f"{due.run_key}:{bucket}"
        yield RunRequest(
            run_key=run_key,
            run_config=_run_config(
                "destroy_session_op", session_id=due.session_id, reason=due.reason
            ),
            tags={"session_id": due.session_id, "reason": due.reason},
        )


@schedule(
    job=reconcile_job,
    cron_schedule=get_settings().reconcile_cron,  # RECONCILE_INTERVAL: every 5 minutes
    default_status=DefaultScheduleStatus.RUNNING,
)
def reconcile_schedule(context):
    return RunRequest()


@schedule(
    job=sample_activity_job,
    cron_schedule=get_settings().lifecycle_cron,  # LIFECYCLE_INTERVAL: every minute
    default_status=DefaultScheduleStatus.RUNNING,
)
def activity_schedule(context):
    return RunRequest()


@run_failure_sensor(default_status=DefaultSensorStatus.RUNNING)
def run_failure_alert_sensor(context: RunFailureSensorContext) -> None:
    """A failed run is an alert: on its session's history when it has one, and in the log."""
    run = context.dagster_run
    message = f"run {run.run_id} of {run.job_name} failed: {context.failure_event.message}"
    context.log.error("ALERT %s", message)
    session_id = run.tags.get("session_id")
    if session_id:
        store.record(get_settings().database_path, session_id, message[:500], kind="alert")


defs = Definitions(
    jobs=[provision_session_job, destroy_session_job, reconcile_job, sample_activity_job],
    sensors=[provision_requests_sensor, session_limits_sensor, run_failure_alert_sensor],
    schedules=[reconcile_schedule, activity_schedule],
    resources=RESOURCES,
)
