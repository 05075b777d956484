"""The store API for proactive check-ins: dosing sessions, the patient's preferences, and the
durable queue of due check-ins that workers claim.

Dataclasses out, audited changes, as every repository.
Claiming is safe with several workers: on PostgreSQL rows are locked with FOR UPDATE SKIP
LOCKED, on SQLite each claim is a compare-and-set on one row; either way a claim is a lease,
so a worker that dies between claim and send leaves the check-in to be sent after the lease.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.patients.store import ref_view
from bot.schedule.plan import Due, Plan, next_daily, plan_for_sessions
from bot.schedule.views import DueJob, ScheduledView, SessionView
from bot.store.core import Repo
from bot.store.db import transaction
from bot.store.models import (
    ChannelIdentity,
    CheckIn,
    DosingSession,
    Patient,
    RiskFlag,
    ScheduledCheckin,
    WebChatToken,
)

#: Two dosing sessions closer than this are an overlap (a typo, or a double booking).
MIN_SESSION_GAP = timedelta(hours=20)


ROUTES = ("iv", "im", "sublingual", "intranasal", "other")


OPEN = ("pending",)


OUTSTANDING = ("sent", "nudged")


class ScheduleRepo(Repo):
    """Dosing sessions, check-in preferences and the queue of due check-ins."""

    def add_dosing_session(
        self, ref: str, at: datetime, route: str, *, plan: Plan, actor: str, origin: str
    ) -> int:
        """Record a planned dosing session and (re)plan the patient's check-ins around it."""
        from bot.store.errors import StoreError

        if route not in ROUTES:
            raise StoreError(f"Unknown route {route!r}; use one of {', '.join(ROUTES)}.")
        now = self._clock()
        if at <= now:
            raise StoreError("That dosing session is in the past; record sessions before they happen.")
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            self._check_overlap(s, p.id, at, None)
            row = DosingSession(patient_id=p.id, planned_at=at, route=route, status="planned", created_at=now)
            s.add(row)
            s.flush()
            self._audit(s, actor, "dosing_session.add", patient_id=p.id, origin=origin, detail={"id": row.id})
            self._replan(s, p, plan, now)
            return row.id

    def move_dosing_session(
        self, session_id: int, at: datetime, *, plan: Plan, actor: str, origin: str
    ) -> None:
        """Move a planned session; its check-ins move with it (sent ones stay as they were)."""
        from bot.store.errors import NotFound, StoreError

        now = self._clock()
        if at <= now:
            raise StoreError("A session cannot be moved into the past.")
        with transaction(self._factory) as s:
            row = s.get(DosingSession, session_id)
            if row is None or row.status != "planned":
                raise NotFound(f"No planned dosing session {session_id}.")
            p = s.get(Patient, row.patient_id)
            self._check_overlap(s, p.id, at, session_id)
            row.planned_at = at
            self._audit(
                s, actor, "dosing_session.move", patient_id=p.id, origin=origin, detail={"id": session_id}
            )
            self._replan(s, p, plan, now)

    def cancel_dosing_session(self, session_id: int, *, plan: Plan, actor: str, origin: str) -> None:
        from bot.store.errors import NotFound

        with transaction(self._factory) as s:
            row = s.get(DosingSession, session_id)
            if row is None or row.status != "planned":
                raise NotFound(f"No planned dosing session {session_id}.")
            row.status = "cancelled"
            p = s.get(Patient, row.patient_id)
            self._audit(
                s, actor, "dosing_session.cancel", patient_id=p.id, origin=origin, detail={"id": session_id}
            )
            self._replan(s, p, plan, self._clock())

    def dosing_sessions(self, ref: str) -> list[SessionView]:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(DosingSession)
                .where(DosingSession.patient_id == p.id)
                .order_by(DosingSession.planned_at)
            ).scalars()
            return [SessionView(r.id, r.planned_at, r.route, r.status) for r in rows]

    def patient_of_session(self, session_id: int):  # type: ignore[no-untyped-def]
        """The patient (PatientRef) a dosing session belongs to, or None."""
        with transaction(self._factory) as s:
            row = s.get(DosingSession, session_id)
            return ref_view(s.get(Patient, row.patient_id)) if row is not None else None

    def _check_overlap(self, s: Session, patient_id: int, at: datetime, ignore: int | None) -> None:
        from bot.store.errors import StoreError

        clash = s.execute(
            select(DosingSession.planned_at).where(
                DosingSession.patient_id == patient_id,
                DosingSession.status == "planned",
                DosingSession.id != (ignore or -1),
                DosingSession.planned_at > at - MIN_SESSION_GAP,
                DosingSession.planned_at < at + MIN_SESSION_GAP,
            )
        ).first()
        if clash is not None:
            raise StoreError(
                f"That overlaps another session on {clash[0]:%Y-%m-%d %H:%M} UTC; "
                f"sessions must be at least {MIN_SESSION_GAP.total_seconds() / 3600:.0f} hours apart."
            )

    def set_checkin_preferences(
        self, ref: str, *, at: time | None, daily: bool | None, plan: Plan, origin: str
    ) -> None:
        """The patient's preferred local time (None: the clinic's default) and daily check-ins."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            if at is not None:
                p.checkin_time = at.strftime("%H:%M")
            if daily is not None:
                p.daily_checkins = daily
            self._audit(
                s,
                f"patient:{ref}",
                "checkin.preferences",
                patient_id=p.id,
                origin=origin,
                detail={"time": p.checkin_time, "daily": p.daily_checkins},
            )
            self._replan(s, p, plan, self._clock())

    def checkin_preferences(self, ref: str) -> tuple[str | None, bool]:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            return p.checkin_time, bool(p.daily_checkins)

    def _replan(self, s: Session, p: Patient, plan: Plan, now: datetime) -> None:
        """Replace the patient's future, unsent check-ins with a fresh plan (one transaction)."""
        s.execute(
            ScheduledCheckin.__table__.delete().where(
                ScheduledCheckin.patient_id == p.id,
                ScheduledCheckin.status == "pending",
                ScheduledCheckin.due_at > now,
            )
        )
        sessions = [
            (r.id, r.planned_at)
            for r in s.execute(
                select(DosingSession).where(
                    DosingSession.patient_id == p.id, DosingSession.status == "planned"
                )
            ).scalars()
        ]
        tz = ZoneInfo(p.timezone)
        preferred = time.fromisoformat(p.checkin_time) if p.checkin_time else None
        planned: list[Due] = [d for d in plan_for_sessions(sessions, tz, plan, preferred) if d.due_at > now]
        if p.daily_checkins and plan.daily_set:
            planned.append(
                Due(plan.daily_set, next_daily(now, tz, preferred or plan.default_time, plan), "daily")
            )
        taken = {
            (ps, due)
            for ps, due in s.execute(
                select(ScheduledCheckin.prompt_set, ScheduledCheckin.due_at).where(
                    ScheduledCheckin.patient_id == p.id
                )
            ).all()
        }
        for due in planned:
            if (due.prompt_set, due.due_at) in taken:
                continue
            taken.add((due.prompt_set, due.due_at))
            s.add(
                ScheduledCheckin(
                    patient_id=p.id,
                    dosing_session_id=due.session_id,
                    prompt_set=due.prompt_set,
                    kind=due.kind,
                    due_at=due.due_at,
                    status="pending",
                    attempts=0,
                    created_at=now,
                )
            )

    def ensure_next_daily(self, plan: Plan) -> int:
        """Give every patient with daily check-ins a pending next one; returns how many were made."""
        now = self._clock()
        made = 0
        with transaction(self._factory) as s:
            patients = s.execute(
                select(Patient).where(
                    Patient.daily_checkins.is_(True),
                    Patient.status == "active",
                    ~exists().where(
                        ScheduledCheckin.patient_id == Patient.id,
                        ScheduledCheckin.kind == "daily",
                        ScheduledCheckin.status.in_(OPEN + OUTSTANDING),
                    ),
                )
            ).scalars()
            for p in patients:
                tz = ZoneInfo(p.timezone)
                at = time.fromisoformat(p.checkin_time) if p.checkin_time else plan.default_time
                due = next_daily(now + timedelta(minutes=1), tz, at, plan)
                clash = s.execute(
                    select(ScheduledCheckin.id).where(
                        ScheduledCheckin.patient_id == p.id,
                        ScheduledCheckin.prompt_set == plan.daily_set,
                        ScheduledCheckin.due_at == due,
                    )
                ).first()
                if clash is None and plan.daily_set:
                    s.add(
                        ScheduledCheckin(
                            patient_id=p.id,
                            prompt_set=plan.daily_set,
                            kind="daily",
                            due_at=due,
                            status="pending",
                            attempts=0,
                            created_at=now,
                        )
                    )
                    made += 1
        return made

    def scheduled_checkins(self, ref: str) -> list[ScheduledView]:
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = s.execute(
                select(ScheduledCheckin)
                .where(ScheduledCheckin.patient_id == p.id)
                .order_by(ScheduledCheckin.due_at, ScheduledCheckin.id)
            ).scalars()
            return [
                ScheduledView(r.id, r.prompt_set, r.kind, r.due_at, r.status, r.reason, r.sent_at)
                for r in rows
            ]

    def claim_due_checkins(self, *, lease: timedelta, limit: int = 20) -> list[DueJob]:
        """Claim pending check-ins that are due; each is this worker's until the lease ends."""
        now = self._clock()
        return self._claim(
            (ScheduledCheckin.status == "pending", ScheduledCheckin.due_at <= now), "pending", lease, limit
        )

    def _claim(self, where: tuple, status: str, lease: timedelta, limit: int) -> list[DueJob]:
        """Claim up to `limit` rows matching `where` (and in `status`) for one worker: a
        compare-and-set per row, so two workers never hold the same one; on PostgreSQL rows
        another worker is claiming right now are skipped (FOR UPDATE SKIP LOCKED), not waited for."""
        now = self._clock()
        token = secrets.token_hex(8)
        table = ScheduledCheckin.__table__
        claimable = (ScheduledCheckin.claimed_until.is_(None)) | (ScheduledCheckin.claimed_until < now)
        query = (
            select(ScheduledCheckin.id)
            .where(*where, claimable)
            .order_by(ScheduledCheckin.due_at, ScheduledCheckin.id)
            .limit(limit)
        )
        with transaction(self._factory) as s:
            if s.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed = [
                row_id
                for (row_id,) in s.execute(query).all()
                if s.execute(
                    table.update()
                    .where(table.c.id == row_id, table.c.status == status, claimable)
                    .values(claim_token=token, claimed_until=now + lease)
                ).rowcount
                == 1
            ]
            return self._jobs(s, claimed, token)

    @staticmethod
    def _jobs(s: Session, ids: list[int], token: str) -> list[DueJob]:
        rows = s.execute(
            select(ScheduledCheckin, Patient.ref, Patient.timezone)
            .join(Patient, Patient.id == ScheduledCheckin.patient_id)
            .where(ScheduledCheckin.id.in_(ids))
            .order_by(ScheduledCheckin.due_at, ScheduledCheckin.id)
        ).all()
        return [
            DueJob(r.id, ref, r.prompt_set, r.kind, r.due_at, token, r.attempts, tz) for r, ref, tz in rows
        ]

    def checkin_route(self, ref: str) -> tuple[str | None, str | None]:
        """Where a proactive message can reach the patient, and why not if nowhere:
        (channel, None) or (None, reason). Telegram first: it reaches a phone; the web chat shows
        it when the patient next opens their link (or at once if it is open)."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            if p.reminders_paused_at is not None:
                return None, "reminders_paused"
            telegram = s.execute(
                select(ChannelIdentity.id).where(
                    ChannelIdentity.patient_id == p.id, ChannelIdentity.channel == "telegram"
                )
            ).first()
            if telegram is not None:
                return "telegram", None
            web = s.execute(
                select(WebChatToken.id).where(
                    WebChatToken.patient_id == p.id,
                    WebChatToken.revoked_at.is_(None),
                    WebChatToken.expires_at > self._clock(),
                )
            ).first()
            return ("webchat", None) if web is not None else (None, "no_channel")

    def checkin_hold(self, ref: str) -> str | None:
        """Why an ordinary check-in must wait now, if it must: an open high or critical risk flag
        (until a clinician resolves it), or another check-in still waiting for answers."""
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            flag = s.execute(
                select(RiskFlag.id).where(
                    RiskFlag.patient_id == p.id,
                    RiskFlag.status.in_(("open", "acknowledged")),
                    RiskFlag.severity.in_(("high", "critical")),
                )
            ).first()
            if flag is not None:
                return "risk_flag_open"
            busy = s.execute(
                select(ScheduledCheckin.id).where(
                    ScheduledCheckin.patient_id == p.id, ScheduledCheckin.status.in_(OUTSTANDING)
                )
            ).first()
            return "another_outstanding" if busy is not None else None

    def _finish(self, job: DueJob, **values: object) -> bool:
        table = ScheduledCheckin.__table__
        with transaction(self._factory) as s:
            return (
                s.execute(
                    table.update()
                    .where(table.c.id == job.id, table.c.claim_token == job.claim_token)
                    .values(claim_token=None, claimed_until=None, **values)
                ).rowcount
                == 1
            )

    def mark_checkin_sent(self, job: DueJob, channel: str) -> bool:
        now = self._clock()
        return self._finish(job, status="sent", sent_at=now, channel=channel, attempts=job.attempts + 1)

    def postpone_checkin(self, job: DueJob, until: datetime, reason: str) -> bool:
        return self._finish(job, due_at=until, reason=reason)

    def retry_checkin(self, job: DueJob, at: datetime, error: str) -> bool:
        return self._finish(job, due_at=at, reason=error[:64], attempts=job.attempts + 1)

    def skip_checkin(self, job: DueJob, reason: str) -> bool:
        return self._finish(job, status="skipped", reason=reason, closed_at=self._clock())

    def close_answered_and_expired(self, plan: Plan) -> tuple[int, int]:
        """Sent check-ins the patient completed become completed; unanswered ones past
        expire_after (and pending ones held that long) become expired, for the therapist."""
        now = self._clock()
        completed = expired = 0
        with transaction(self._factory) as s:
            for row in s.execute(
                select(ScheduledCheckin).where(ScheduledCheckin.status.in_(OUTSTANDING))
            ).scalars():
                done = s.execute(
                    select(CheckIn.id).where(
                        CheckIn.patient_id == row.patient_id,
                        CheckIn.prompt_set == row.prompt_set,
                        CheckIn.completed_at >= row.sent_at,
                    )
                ).first()
                if done is not None:
                    row.status, row.closed_at = "completed", now
                    completed += 1
                elif row.sent_at + plan.expire_after <= now:
                    row.status, row.closed_at, row.reason = "expired", now, "unanswered"
                    expired += 1
            for row in s.execute(
                select(ScheduledCheckin).where(
                    ScheduledCheckin.status == "pending",
                    ScheduledCheckin.due_at <= now - plan.expire_after,
                    (ScheduledCheckin.claimed_until.is_(None)) | (ScheduledCheckin.claimed_until < now),
                )
            ).scalars():
                row.status, row.closed_at = "expired", now
                row.reason = row.reason or "never_sent"
                expired += 1
        return completed, expired

    def claim_nudges(self, plan: Plan, *, lease: timedelta, limit: int = 20) -> list[DueJob]:
        """Sent, unanswered check-ins due their one gentle nudge, claimed like due ones."""
        now = self._clock()
        return self._claim(
            (ScheduledCheckin.status == "sent", ScheduledCheckin.sent_at <= now - plan.nudge_after),
            "sent",
            lease,
            limit,
        )

    def mark_nudged(self, job: DueJob) -> bool:
        return self._finish(job, status="nudged", nudged_at=self._clock())

    def release_nudge(self, job: DueJob) -> bool:
        return self._finish(job)

    @staticmethod
    def _outstanding(s: Session, p: Patient, *, due_by: datetime) -> list[ScheduledCheckin]:
        """The patient's check-ins waiting for answers or still to come, due by `due_by`."""
        return list(
            s.execute(
                select(ScheduledCheckin).where(
                    ScheduledCheckin.patient_id == p.id,
                    ScheduledCheckin.status.in_(OUTSTANDING + OPEN),
                    ScheduledCheckin.due_at <= due_by,
                )
            ).scalars()
        )

    def postpone_outstanding(self, ref: str, delay: timedelta, *, origin: str) -> int:
        """ "Remind me in an hour": the check-in waiting for answers (or due next today) comes back later."""
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            rows = self._outstanding(s, p, due_by=now + timedelta(hours=12))
            for row in rows:
                row.status, row.due_at, row.reason = "pending", now + delay, "patient_postponed"
                row.sent_at = row.nudged_at = None
            self._audit(
                s,
                f"patient:{ref}",
                "checkin.postpone",
                patient_id=p.id,
                origin=origin,
                detail={"n": len(rows)},
            )
            return len(rows)

    def skip_today(self, ref: str, *, origin: str) -> int:
        """ "Not today": today's outstanding and remaining check-ins are skipped."""
        now = self._clock()
        with transaction(self._factory) as s:
            p = self._patient(s, ref)
            tz = ZoneInfo(p.timezone)
            local_now = now.astimezone(tz)
            end_of_day = local_now.replace(hour=23, minute=59, second=59).astimezone(now.tzinfo)
            rows = self._outstanding(s, p, due_by=end_of_day)
            for row in rows:
                row.status, row.reason, row.closed_at = "skipped", "patient_not_today", now
            self._audit(
                s,
                f"patient:{ref}",
                "checkin.skip_today",
                patient_id=p.id,
                origin=origin,
                detail={"n": len(rows)},
            )
            return len(rows)
