"""helpdesk.inbound.threading: which ticket a message belongs to, rule by rule, as tables of cases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from helpdesk.inbound.threading import (
    CONTINUE, NEW, REOPEN, Candidates, SenderSeen, TicketSeen, choose_ticket, survivor,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
WINDOW = timedelta(days=7)
CUSTOMER, OTHER, ORG = 10, 20, 5


def ticket(id: int, status: str = "open", *, solved_days_ago: float | None = None, customer: int = CUSTOMER,
           org: int | None = None, merged_into: TicketSeen | None = None) -> TicketSeen:
    solved_at = NOW - timedelta(days=solved_days_ago) if solved_days_ago is not None else None
    return TicketSeen(id, status, solved_at, customer, org, merged_into)


def decide(candidates: Candidates, sender: SenderSeen = SenderSeen(CUSTOMER), *, auto_generated: bool = False):
    return choose_ticket(candidates, sender, received_at=NOW, auto_generated=auto_generated, reopen_window=WINDOW)


def outcome(decision) -> tuple[str, int | None]:
    return decision.action, decision.ticket_id


@pytest.mark.parametrize("found, expected", [
    pytest.param(((100, ticket(1)),), (CONTINUE, 1), id="one-referenced-message"),
    pytest.param(((100, ticket(1)), (250, ticket(2)), (180, ticket(3))), (CONTINUE, 2), id="newest-message-wins"),
    pytest.param(((250, ticket(2)), (100, ticket(1))), (CONTINUE, 2), id="order-of-headers-does-not-matter"),
    pytest.param(((100, ticket(1, customer=OTHER)),), (CONTINUE, 1), id="any-sender-may-reply-by-headers"),
])
def test_reply_headers_pick_the_newest_referenced_messages_ticket(found, expected):
    assert outcome(decide(Candidates(by_reference=found), SenderSeen(None))) == expected


@pytest.mark.parametrize("sender, expected", [
    pytest.param(SenderSeen(CUSTOMER), (CONTINUE, 1), id="its-customer"),
    pytest.param(SenderSeen(None), (CONTINUE, 1), id="a-new-sender-in-the-same-platform-thread"),
])
def test_platform_thread_continues_its_ticket(sender, expected):
    assert outcome(decide(Candidates(by_platform_thread=ticket(1)), sender)) == expected


@pytest.mark.parametrize("token_ticket, sender, expected", [
    pytest.param(ticket(1), SenderSeen(CUSTOMER), (CONTINUE, 1), id="the-customer"),
    pytest.param(ticket(1), SenderSeen(OTHER, participant_in=frozenset({1})), (CONTINUE, 1), id="a-participant"),
    pytest.param(ticket(1), SenderSeen(None, participant_in=frozenset({1})), (CONTINUE, 1),
                 id="a-participant-not-yet-a-customer"),
    pytest.param(ticket(1, org=ORG), SenderSeen(OTHER, organization_id=ORG), (CONTINUE, 1), id="same-organization"),
    pytest.param(ticket(1, org=ORG), SenderSeen(OTHER, organization_id=ORG + 1), (NEW, None), id="other-organization"),
    pytest.param(ticket(1), SenderSeen(OTHER, organization_id=None), (NEW, None),
                 id="no-organization-on-either-side-is-no-match"),
    pytest.param(ticket(1), SenderSeen(OTHER, participant_in=frozenset({2})), (NEW, None),
                 id="participant-of-another-ticket"),
    pytest.param(ticket(1), SenderSeen(None), (NEW, None), id="a-stranger"),
])
def test_subject_token_threads_only_for_people_in_the_conversation(token_ticket, sender, expected):
    assert outcome(decide(Candidates(by_subject_token=token_ticket), sender)) == expected


def test_stranger_quoting_ticket_token_gets_new_ticket_and_the_reason_says_so():
    decision = decide(Candidates(by_subject_token=ticket(7)), SenderSeen(OTHER))
    assert decision.opens_ticket and "stranger" in decision.reason


@pytest.mark.parametrize("status, solved_days_ago, expected", [
    pytest.param("new", None, (CONTINUE, 1), id="new"),
    pytest.param("open", None, (CONTINUE, 1), id="open"),
    pytest.param("pending", None, (CONTINUE, 1), id="pending"),
    pytest.param("solved", 0, (REOPEN, 1), id="solved-just-now"),
    pytest.param("solved", 2, (REOPEN, 1), id="solved-within-window"),
    pytest.param("solved", 7, (REOPEN, 1), id="solved-exactly-at-window"),
    pytest.param("solved", 7.01, (NEW, None), id="solved-after-window"),
    pytest.param("solved", None, (NEW, None), id="solved-without-a-date"),
    pytest.param("closed", 1, (NEW, None), id="closed"),
    pytest.param("closed", None, (NEW, None), id="closed-without-a-date"),
])
def test_a_solved_ticket_reopens_within_the_window_otherwise_a_new_ticket(status, solved_days_ago, expected):
    found = ticket(1, status, solved_days_ago=solved_days_ago)
    for candidates in (Candidates(by_reference=((1, found),)), Candidates(by_platform_thread=found),
                       Candidates(by_subject_token=found)):
        assert outcome(decide(candidates)) == expected


@pytest.mark.parametrize("status, solved_days_ago", [
    pytest.param("open", None, id="open"),
    pytest.param("solved", 1, id="solved-within-window"),
    pytest.param("solved", 30, id="solved-after-window"),
    pytest.param("closed", 1, id="closed"),
])
def test_auto_generated_mail_never_reopens_it_joins_what_it_found(status, solved_days_ago):
    found = ticket(1, status, solved_days_ago=solved_days_ago)
    assert outcome(decide(Candidates(by_reference=((1, found),)), auto_generated=True)) == (CONTINUE, 1)


def test_auto_generated_mail_that_threads_to_nothing_opens_a_ticket_by_these_rules():
    # (ingest turns this into UnsolicitedReport for a machine's reply)
    assert outcome(decide(Candidates(), auto_generated=True)) == (NEW, None)


@pytest.mark.parametrize("candidates, expected", [
    pytest.param(Candidates(by_reference=((1, ticket(1, "merged", merged_into=ticket(2))),)), (CONTINUE, 2),
                 id="reply-headers"),
    pytest.param(Candidates(by_platform_thread=ticket(1, "merged", merged_into=ticket(2))), (CONTINUE, 2),
                 id="platform-thread"),
    pytest.param(Candidates(by_subject_token=ticket(1, "merged", merged_into=ticket(2))), (CONTINUE, 2),
                 id="subject-token"),
    pytest.param(Candidates(by_reference=((1, ticket(1, "merged", merged_into=ticket(2, "merged",
                                                                                 merged_into=ticket(3)))),)),
                 (CONTINUE, 3), id="a-chain-of-merges"),
    pytest.param(Candidates(by_reference=((1, ticket(1, "closed", merged_into=ticket(2, solved_days_ago=1,
                                                                                   status="solved"))),)),
                 (REOPEN, 2), id="the-survivors-state-decides"),
])
def test_merged_tickets_follow_to_the_survivor(candidates, expected):
    assert outcome(decide(candidates)) == expected


def test_the_subject_token_rule_asks_about_the_survivor():
    merged = ticket(1, "merged", customer=OTHER, merged_into=ticket(2, customer=CUSTOMER))
    assert outcome(decide(Candidates(by_subject_token=merged), SenderSeen(CUSTOMER))) == (CONTINUE, 2)
    assert outcome(decide(Candidates(by_subject_token=merged), SenderSeen(OTHER))) == (NEW, None)


def test_a_merge_cycle_stops():
    first = TicketSeen(1, "merged", None, CUSTOMER, None, TicketSeen(2, "open", None, CUSTOMER, None, None))
    assert survivor(first).id == 2
    assert survivor(TicketSeen(3, "open", None, CUSTOMER, None)).id == 3


@pytest.mark.parametrize("candidates, expected", [
    pytest.param(Candidates(by_reference=((1, ticket(1)),), by_platform_thread=ticket(2), by_subject_token=ticket(3)),
                 (CONTINUE, 1), id="headers-before-thread-and-token"),
    pytest.param(Candidates(by_platform_thread=ticket(2), by_subject_token=ticket(3)), (CONTINUE, 2),
                 id="thread-before-token"),
    pytest.param(Candidates(by_reference=((1, ticket(1, "closed")),), by_subject_token=ticket(3)), (NEW, None),
                 id="a-closed-ticket-found-by-headers-is-not-passed-over-for-the-token"),
    pytest.param(Candidates(by_platform_thread=ticket(2, "solved", solved_days_ago=30), by_subject_token=ticket(3)),
                 (NEW, None), id="an-old-solved-ticket-found-by-thread-is-not-passed-over-for-the-token"),
    pytest.param(Candidates(), (NEW, None), id="no-key-found-anything"),
])
def test_the_first_key_that_finds_a_ticket_decides(candidates, expected):
    assert outcome(decide(candidates)) == expected
