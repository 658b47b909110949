"""The FHIR R4 read facade (SPEC §7) over the demo hospitals: a day's Slots and Appointments parse back as valid R4
resources with fhir.resources, a 停诊 slot is ``busy-unavailable``, a full one ``busy``, a no-show ``noshow``, an
attended one ``fulfilled``; patients appear only as a masked name (the output is grepped for the test patients' ID
numbers, phones and names). Flask's test client over the real services and a real Redis."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import redis
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from flask.testing import FlaskClient

from app.demo import DEMO_HOSPITALS, demo_schedule_csv
from app.web import create_app
from bot.config import build_config
from bot.patients import account_id
from tests.pii_scan import assert_no_pii_in_bytes
from tests.support import NOW, SECRET, SHANGHAI, STAFF_TOKEN, Services, clock, id_number, make_services, patient_name

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}
SCOPED = {"Authorization": "Bearer child-hospital-desk-0123"}
TOMORROW = NOW.date() + timedelta(days=1)
R4_SLOT_STATUS = {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
R4_APPOINTMENT_STATUS = {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                         "entered-in-error", "checked-in", "waitlist"}  # fmt: skip
RESOURCES = {"Schedule": Schedule, "Slot": Slot, "Appointment": Appointment}
HOSPITAL, DEPARTMENT = "bjdyyy", "xnk"


class Demo:
    """The demo hospitals and their week of slots; patients booked on them."""

    def __init__(self, client: redis.Redis) -> None:
        raw = {
            "security": {
                "secret_key": SECRET,
                "staff_tokens": [
                    {"name": "desk", "token": STAFF_TOKEN},
                    {"name": "children", "token": SCOPED["Authorization"][7:], "hospitals": ["bjetyy"]},
                ],
            },
            "hospitals": copy.deepcopy(DEMO_HOSPITALS),
        }
        self.svc: Services = make_services(client, build_config(raw))
        self.svc.schedule.import_csv(demo_schedule_csv(NOW.date()))
        self.http: FlaskClient = create_app(self.svc, expect_worker=False).test_client()
        self.numbers: list[int] = []

    def book(self, n: int, doctor: str = "zhang-wei", start: str = "08:00", day: date = TOMORROW) -> str:
        self.numbers.append(n)
        _, patient = self.svc.patient(n)
        acct = account_id(self.svc.box, "wechat", f"openid-{n}")
        slot = f"{HOSPITAL}|{DEPARTMENT}|{doctor}|{day.isoformat()}|{start}"
        return self.svc.booking.book(patient.pid, acct, "wechat", slot).serial

    def bundle(self, path: str, headers: dict[str, str] = AUTH) -> tuple[Bundle, list[Any], str]:
        response = self.http.get(path, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/fhir+json"
        text = response.get_data(as_text=True)
        bundle = Bundle.model_validate_json(text)  # the whole Bundle validates as FHIR
        assert bundle.type == "searchset" and bundle.total == len(bundle.entry or [])
        resources = [
            RESOURCES[e.resource.get_resource_type()].model_validate(e.resource.model_dump())
            for e in bundle.entry or []
        ]
        return bundle, resources, text


@pytest.fixture
def demo(redis_db: redis.Redis) -> Demo:
    return Demo(redis_db)


def test_a_days_slots_validate_with_their_status(demo: Demo) -> None:
    demo.svc.schedule.set_slot_status(f"{HOSPITAL}|{DEPARTMENT}|li-na|{TOMORROW}|08:00", "suspended")  # 停诊
    full = f"{HOSPITAL}|sjnk|wang-fang|{TOMORROW}|08:00"
    demo.svc.redis.hset(f"gh:slot:{full}", "capacity", 0)  # nothing left to book
    _, slots, _ = demo.bundle(f"/fhir/Slot?start=ge{TOMORROW}&start=lt{TOMORROW + timedelta(days=1)}")
    by_id = {s.identifier[0].value: s for s in slots}
    assert len(slots) == 9 * 2 * 2  # 9 departments, 2 doctors, 2 sessions
    assert {s.status for s in slots} <= R4_SLOT_STATUS
    assert by_id[f"{HOSPITAL}|{DEPARTMENT}|li-na|{TOMORROW}|08:00"].status == "busy-unavailable"
    assert by_id[full].status == "busy"
    assert by_id[f"{HOSPITAL}|{DEPARTMENT}|zhang-wei|{TOMORROW}|08:00"].status == "free"
    slot = by_id[f"{HOSPITAL}|{DEPARTMENT}|zhang-wei|{TOMORROW}|13:30"]
    assert (
        slot.start.isoformat() == f"{TOMORROW}T13:30:00+08:00" and slot.end.isoformat() == f"{TOMORROW}T17:00:00+08:00"
    )
    assert slot.serviceType[0].text == "心血管内科"
    _, schedules, _ = demo.bundle("/fhir/Schedule")
    assert slot.schedule.reference in {f"Schedule/{s.id}" for s in schedules}
    assert len(schedules) == 9 * 2
    assert any(a.display == "张伟" for s in schedules for a in s.actor)


def test_a_days_appointments_validate_with_their_status_and_no_personal_data(demo: Demo) -> None:
    attended, absent, cancelled, booked = (demo.book(n) for n in (1, 2, 3, 4))
    stopped = demo.book(5, doctor="li-na", start="13:30")
    demo.svc.booking.cancel(cancelled, "patient")
    broadcasts = demo.svc.broadcasts
    progress, _ = broadcasts.create(
        broadcasts.validate(HOSPITAL, TOMORROW.isoformat(), "停诊", DEPARTMENT, "li-na", True), "staff:desk"
    )
    broadcasts.run(progress.id)  # the hospital cancels li-na's clinic
    clock(demo.svc).set(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))
    demo.svc.standing.checkin(attended, "staff:desk")
    clock(demo.svc).set(datetime(2026, 11, 24, 12, 30, tzinfo=SHANGHAI))
    assert demo.svc.standing.sweep_no_shows() == 2  # absent and booked (this one waived below)
    demo.svc.standing.waive(booked, "staff:desk")

    _, appointments, text = demo.bundle(f"/fhir/Appointment?date={TOMORROW}")
    status = {a.identifier[0].value: a.status for a in appointments}
    assert status == {
        attended: "fulfilled",
        absent: "noshow",
        cancelled: "cancelled",
        booked: "noshow",
        stopped: "cancelled",
    }
    assert set(status.values()) <= R4_APPOINTMENT_STATUS
    by_serial = {a.id: a for a in appointments}
    assert by_serial[stopped].cancelationReason.coding[0].code == "prov"  # the hospital cancelled
    assert by_serial[cancelled].cancelationReason.coding[0].code == "pat"
    patient = by_serial[absent].participant[0].actor
    assert (patient.type, patient.display) == ("Patient", "张*")
    _, slots, slot_text = demo.bundle(f"/fhir/Slot?start=ge{TOMORROW}&start=lt{TOMORROW + timedelta(days=1)}")
    assert by_serial[absent].slot[0].reference in {f"Slot/{s.id}" for s in slots}

    everything = text + slot_text + demo.bundle("/fhir/Schedule")[2]
    secrets = [s for n in demo.numbers for s in (id_number(n), f"139{n:08d}", patient_name(n))]
    for n in demo.numbers:
        phone = f"139{n:08d}"
        for secret in (id_number(n), id_number(n)[-8:], phone, phone[-8:], patient_name(n)):
            assert secret not in everything, secret
    assert_no_pii_in_bytes(everything.encode(), secrets, "the FHIR answers")  # every stored form of them too


def test_a_scoped_token_sees_only_its_hospitals(demo: Demo) -> None:
    demo.book(1)
    _, slots, _ = demo.bundle(f"/fhir/Slot?start=ge{TOMORROW}&start=lt{TOMORROW + timedelta(days=2)}", SCOPED)
    assert {s.identifier[0].value.split("|")[0] for s in slots} == {"bjetyy"}
    _, appointments, _ = demo.bundle(f"/fhir/Appointment?date={TOMORROW}", SCOPED)
    assert appointments == []
    refused = demo.http.get(f"/fhir/Appointment?date={TOMORROW}&hospital={HOSPITAL}", headers=SCOPED)
    assert refused.status_code == 403
    assert OperationOutcome.model_validate_json(refused.get_data()).issue[0].code == "forbidden"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("/fhir/Slot", "start: expected both"),
        (f"/fhir/Slot?start=ge{TOMORROW}", "start: expected both"),
        (f"/fhir/Slot?start=ge{TOMORROW}&start=ge{TOMORROW}", "start: expected start="),
        (f"/fhir/Slot?start=ge{TOMORROW}&start=lt{TOMORROW}", "the lt day must come after"),
        (f"/fhir/Slot?start=ge{TOMORROW}&start=lt{TOMORROW + timedelta(days=40)}", "at most 31 days"),
        ("/fhir/Slot?start=ge2026-02-30&start=lt2026-03-02", "start: expected start="),
        ("/fhir/Slot?start=gt2026-11-24&start=lt2026-11-25", "start: expected start="),
        ("/fhir/Appointment", "date: expected YYYY-MM-DD"),
        ("/fhir/Appointment?date=20261124", "date: expected YYYY-MM-DD"),
        ("/fhir/Schedule?hospital=nowhere", "hospital: unknown hospital"),
    ],
)
def test_a_bad_search_is_400_with_an_operation_outcome(demo: Demo, query: str, reason: str) -> None:
    response = demo.http.get(query, headers=AUTH)
    assert response.status_code == 400
    issue = OperationOutcome.model_validate_json(response.get_data()).issue[0]
    assert issue.code == "invalid" and reason in (issue.diagnostics or ""), issue.diagnostics


@pytest.mark.parametrize("path", ["/fhir/Schedule", f"/fhir/Appointment?date={TOMORROW}"])
def test_without_a_valid_token_401(demo: Demo, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-real-token-000"}):
        response = demo.http.get(path, headers=headers)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
        assert OperationOutcome.model_validate_json(response.get_data()).issue[0].code == "login"


def test_the_capability_statement_is_public_and_valid(demo: Demo) -> None:
    response = demo.http.get("/fhir/metadata")
    assert response.status_code == 200 and response.mimetype == "application/fhir+json"
    statement = CapabilityStatement.model_validate_json(response.get_data())
    assert statement.fhirVersion == "4.0.1" and statement.format == ["json"]
    served = {r.type: {p.name for p in r.searchParam or []} for r in statement.rest[0].resource or []}
    assert served == {"Schedule": {"hospital"}, "Slot": {"start", "hospital"}, "Appointment": {"date", "hospital"}}


@pytest.mark.parametrize(("method", "path", "status"), [("get", "/fhir/Patient", 404), ("post", "/fhir/Slot", 405)])
def test_what_is_not_served_is_an_operation_outcome(demo: Demo, method: str, path: str, status: int) -> None:
    response = demo.http.open(path, method=method, headers=AUTH)
    assert response.status_code == status and response.mimetype == "application/fhir+json"
    assert OperationOutcome.model_validate_json(response.get_data()).issue[0].severity == "error"
