//! Door events become alarms: each journaled event raises or ends the
//! alarm it describes, through the ledger (so alarms are audited, survive
//! restarts and are replicated like every other change).

use std::sync::Arc;

use crate::app::shared::Shared;
use crate::ledger::{Change, Effect, LedgerError};
use crate::protocol::{DoorEvent, DoorEventKind};
use crate::records::alarms::Alarm;

/// Raises or ends the alarm a journaled door event describes (a repeated
/// beginning, or an end without an alarm, changes nothing: a retry after
/// an uncertain commit is harmless).
pub async fn commit_event(
    shared: &Arc<Shared>,
    reported_by: String,
    e: DoorEvent,
) -> Result<(), LedgerError> {
    crate::ledger::commit(shared, move |s| {
        let now = s.clock.now_micros();
        let active = s.alarms.get(e.door, e.kind);
        let change = match (e.begins, active) {
            (true, None) => Change::at(now).with(Effect::AlarmSet(Alarm::new(
                e.door,
                e.kind,
                crate::clock::rfc3339(e.observed_us),
                &reported_by,
            ))),
            (false, Some(_)) => Change::at(now).with(Effect::AlarmCleared(e.door, e.kind.code())),
            _ => Change::at(now),
        };
        if e.begins
            && matches!(
                e.kind,
                DoorEventKind::ForcedOpen | DoorEventKind::HeldOpen | DoorEventKind::Tamper
            )
        {
            tracing::warn!(door = e.door, kind = e.kind.as_str(), "door alarm");
        }
        Ok::<_, LedgerError>((change, ()))
    })
    .await
}
