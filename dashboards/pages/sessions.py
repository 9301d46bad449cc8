"""Sessions: follow rented instances, copy the SSH command, finish, extend or delete them.

The detail panel is a fragment that re-reads its session every `REFRESH_S` while the
status is changing (pending, provisioning, stopping); when the status moves on, the
whole page reruns so the table agrees, and the timer stops once the status settles.
"""

from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from dashboards import data, provisioning
from shopper_pipelines.errors import ShopperError
from shopper_pipelines.sessions.models import MAX_HOURS, Status
from shopper_pipelines.settings import Settings

ANY = "Any"
REFRESH_S = 2
CHANGING = frozenset({Status.PENDING, Status.PROVISIONING, Status.STOPPING})
EXTENDABLE = frozenset({Status.PENDING, Status.PROVISIONING, Status.RUNNING})
ENDED = frozenset({Status.TERMINATED, Status.FAILED})
FOCUS_KEY = "focus_session"  # set by the Shop page to the session it just requested
PICK_KEY = "sessions_pick"
FLASH_KEY = "sessions_flash"  # (level, message) of the last action, shown once
NO_WAREHOUSE = (
    "The warehouse does not exist yet. Fetch offers with `uv run gpu-shopper ingest`, "
    "then provision one from the Shop page."
)
NO_SESSIONS = "No sessions yet: provision an offer from the Shop page."
_TIME = "YYYY-MM-DD HH:mm"
TABLE_COLUMNS = {
    "id": st.column_config.TextColumn("Session"),
    "consumer_id": st.column_config.TextColumn("Consumer"),
    "provider": st.column_config.TextColumn("Provider"),
    "gpu_model": st.column_config.TextColumn("GPU"),
    "gpu_count": st.column_config.NumberColumn("GPUs", format="%d"),
    "status": st.column_config.TextColumn("Status"),
    "price_per_hour": st.column_config.NumberColumn("$/h", format="$%.3f"),
    "created_at": st.column_config.DatetimeColumn("Created", format=_TIME),
    "expires_at": st.column_config.DatetimeColumn("Expires", format=_TIME),
}
EVENT_COLUMNS = {
    "occurred_at": st.column_config.DatetimeColumn("Time", format="YYYY-MM-DD HH:mm:ss"),
    "kind": st.column_config.TextColumn("Kind"),
    "change": st.column_config.TextColumn("From -> to"),
    "reason": st.column_config.TextColumn("Reason", width="large"),
}


def filter_widgets(consumers: list[str]) -> tuple[str | None, tuple[str, ...]]:
    """The sidebar filters: one consumer (or any) and some statuses (none picked: all)."""
    bar = st.sidebar
    bar.header("Filters")
    consumer = bar.selectbox("Consumer", [ANY, *consumers], key="sessions_consumer")
    statuses = bar.multiselect(
        "Status", [status.value for status in Status], placeholder=ANY, key="sessions_status"
    )
    return (None if consumer == ANY else consumer), tuple(sorted(statuses))


def pick_session(table: pl.DataFrame) -> str:
    """The session whose detail to show: the one just requested, else the user's pick."""
    labels = {
        row["id"]: f"{row['id']} · {row['consumer_id']} · {row['gpu_model']}"
        for row in table.iter_rows(named=True)
    }
    focus = st.session_state.pop(FOCUS_KEY, None)
    if focus in labels:
        st.session_state[PICK_KEY] = focus
    elif st.session_state.get(PICK_KEY) not in labels:
        st.session_state[PICK_KEY] = next(iter(labels))
    return str(st.selectbox("Session", list(labels), format_func=labels.__getitem__, key=PICK_KEY))


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


def show_facts(view: dict[str, Any]) -> None:
    """Status and reason first, then what was rented, for how much and until when."""
    st.markdown(f"**Status:** {view['status']}")
    if view["status_reason"]:
        st.caption(f"Reason: {view['status_reason']}")
    st.markdown(
        f"{view['gpu_model']} x{view['gpu_count']} ({view['vram_gb']:.0f} GB each) on "
        f"**{view['provider']}** at **${view['price_per_hour']:.3f}/h** for "
        f"{view['consumer_id']} · workload {view['workload']} · instance "
        f"`{view['instance_id'] or '—'}`  \n"
        f"Created {_when(view['created_at'])} · expires {_when(view['expires_at'])}"
        f" · hard maximum {_when(view['hard_max_at'])}"
    )


def show_ssh(view: dict[str, Any]) -> None:
    """The SSH command to paste once the instance accepts a login, else what is going on."""
    status = Status(view["status"])
    if status is Status.RUNNING and view["ssh_command"]:
        key_file = f"{view['id']}.key"
        st.code(
            f"ssh -i {key_file} -p {view['ssh_port']} {view['ssh_user']}@{view['ssh_host']}",
            language="bash",
        )
        st.caption(
            f"Run it where you saved `{key_file}` (downloaded from the Shop page; "
            f"`chmod 600 {key_file}` first)."
        )
    elif status in (Status.PENDING, Status.PROVISIONING):
        st.info(
            "Renting the instance and waiting until it accepts an SSH login; the SSH "
            f"command appears here. This panel refreshes every {REFRESH_S} s."
        )


def _act(settings: Settings, action: str, session_id: str, hours: int) -> None:
    """Run one button's action; leave its outcome as a message for the next run."""
    try:
        if action == "done":
            session = data.finish_session(settings, session_id)
            message = f"Session {session_id} finished: {session.status.value}."
        elif action == "delete":
            session = data.delete_session(settings, session_id)
            message = f"Session {session_id} deleted: {session.status.value}."
        else:
            session = data.extend_session(settings, session_id, hours)
            message = f"Session {session_id} extended by {hours} h to {_when(session.expires_at)}."
    except ShopperError as error:
        st.session_state[FLASH_KEY] = ("error", str(error))
    else:
        st.session_state[FLASH_KEY] = ("success", message)


def show_actions(settings: Settings, view: dict[str, Any]) -> None:
    """Done, Extend by some hours, Delete; each reruns the page with its outcome."""
    status = Status(view["status"])
    session_id = view["id"]
    if status is Status.PENDING and not provisioning.in_progress(session_id):
        st.caption("No provisioning is running for it in this app (Dagster's sensor may be).")
        if st.button("Provision now", key="provision_now"):
            provisioning.start(session_id)
            st.rerun()
    done_col, hours_col, extend_col, delete_col = st.columns([1, 1, 1, 1], gap="small")
    hours = int(
        hours_col.number_input(
            "Hours to add", 1, MAX_HOURS, value=1, step=1, key="extend_hours",
            label_visibility="collapsed",
        )
    )  # fmt: skip
    action = None
    if done_col.button("Done", type="primary", disabled=status is not Status.RUNNING, key="done"):
        action = "done"
    if extend_col.button("Extend", disabled=status not in EXTENDABLE, key="extend"):
        action = "extend"
    if delete_col.button("Delete", disabled=status in ENDED, key="delete"):
        action = "delete"
    if action:
        with st.spinner(f"{action.capitalize()}: {session_id}…"):
            _act(settings, action, session_id, hours)
        st.rerun()


def detail_panel(settings: Settings, session_id: str, seen_status: str) -> None:
    """One session: facts, SSH command, actions and event history (a fragment)."""
    db_path = settings.database_path
    view = data.session_view(db_path, session_id)
    if view is None:
        st.info(f"Session {session_id} is no longer in the warehouse.")
        return
    if view["status"] != seen_status:
        data.clear_session_caches()  # so the table reruns with the new status too
        st.rerun()
    show_facts(view)
    show_ssh(view)
    if Status(view["status"]) not in ENDED:
        show_actions(settings, view)
    st.markdown("**History**")
    st.dataframe(
        data.session_events(db_path, session_id),
        hide_index=True,
        column_order=list(EVENT_COLUMNS),
        column_config=EVENT_COLUMNS,
    )


def show_flash() -> None:
    """The outcome of the last button press, once."""
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        level, message = flash
        (st.error if level == "error" else st.success)(message)


def render() -> None:
    """Filters, then the sessions table, then the picked session's detail panel."""
    st.title("Sessions")
    settings = data.settings()
    db_path = settings.database_path
    if not data.warehouse_exists(db_path):
        st.info(NO_WAREHOUSE)
        return
    show_flash()

    consumer, statuses = filter_widgets(data.consumers(db_path))
    table = data.sessions(db_path, consumer, statuses)
    if table.is_empty():
        filtered = consumer is not None or bool(statuses)
        st.info("No sessions match these filters." if filtered else NO_SESSIONS)
        return
    st.dataframe(
        table, hide_index=True, column_order=list(TABLE_COLUMNS), column_config=TABLE_COLUMNS
    )

    session_id = pick_session(table)
    status = table.filter(pl.col("id") == session_id)["status"].item()
    view = data.session_view(db_path, session_id)
    seen = view["status"] if view else status
    every = f"{REFRESH_S}s" if seen in CHANGING else None
    with st.container(border=True):
        st.subheader(session_id)
        st.fragment(detail_panel, run_every=every)(settings, session_id, seen)


try:
    render()
except ShopperError as error:
    st.error(str(error))
