"""SQLAlchemy models of the domain (see the domain brief).

Geometries are stored in EPSG:4326 with GiST indexes (GeoAlchemy2 creates them);
areas in m² are computed in a metric CRS (``geo.crs``), never in degrees.
Enumerations are stored as short text with CHECK constraints, so that adding a value
is a plain migration.
"""

from __future__ import annotations

import enum
from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _check_in(column: str, enum_cls: type[enum.Enum], name: str | None = None) -> CheckConstraint:
    values = ", ".join(f"'{m.value}'" for m in enum_cls)
    return CheckConstraint(f"{column} IN ({values})", name=name or f"{column}_valid")


class UnitLevel(StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


class ViolationKind(StrEnum):
    STOCK = "stock"  # 存量
    NEW = "new"  # 新增


class ViolationType(StrEnum):
    VILLA = "villa"  # 别墅
    ROOFTOP = "rooftop"  # 屋顶加层
    COURTYARD = "courtyard"  # 老公房天井
    FACTORY = "factory"  # 厂房仓库
    PIGEON_LOFT = "pigeon_loft"  # 鸽棚
    SHOPFRONT = "shopfront"  # 沿街商铺
    SHED = "shed"  # 搭建棚房
    OTHER = "other"


class DiscoverySource(StrEnum):
    IMAGERY = "imagery"
    PATROL = "patrol"
    COMPLAINT = "complaint"
    DATABASE = "database"  # came with the city's database of unpermitted buildings


class Status(StrEnum):
    SUSPECTED = "suspected"  # 疑似
    CONFIRMED = "confirmed"  # 属实
    DISMISSED = "dismissed"  # 不属实
    CASE_FILED = "case_filed"  # 立案
    DEMOLISHED = "demolished"  # 拆除
    PERMIT_GRANTED = "permit_granted"  # 补证
    ANNOTATED = "annotated"  # 注记
    ANNOTATION_LIFTED = "annotation_lifted"  # 解注
    REGULARISED = "regularised"  # 规范 / 政策疏导
    CLOSED = "closed"  # 销项


class Role(StrEnum):
    ADMIN = "admin"
    OFFICE = "office"
    STREET = "street"
    DRONE = "drone"
    VIEWER = "viewer"


class Sensor(StrEnum):
    DRONE = "drone"
    SATELLITE = "satellite"


class ComplaintVerdict(StrEnum):
    PENDING = "pending"
    TRUE = "true"  # 属实
    UNTRUE = "untrue"  # 不属实


class DetectionChange(StrEnum):
    APPEARED = "appeared"
    DISAPPEARED = "disappeared"


class DetectionClass(StrEnum):
    NEW_SUSPECT = "new_suspect"
    KNOWN_CHANGED = "known_changed"
    DEMOLITION_EVIDENCE = "demolition_evidence"
    PERMITTED = "permitted"
    UNMATCHED = "unmatched"  # disappeared where nothing is recorded


class ReviewStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    MERGED = "merged"
    NOT_QUEUED = "not_queued"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _now() -> Any:
    return func.now()


class AdminUnit(Base):
    """District (区), street/town (街镇) or community/village (居村)."""

    __tablename__ = "admin_units"
    __table_args__ = (_check_in("level", UnitLevel),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))

    parent: Mapped[AdminUnit | None] = relationship(remote_side="AdminUnit.id")


class Parcel(Base):
    """A land parcel (地块)."""

    __tablename__ = "parcels"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    address: Mapped[str | None] = mapped_column(String(200))
    land_use: Mapped[str | None] = mapped_column(String(40))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    area_m2: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))


class Violation(Base):
    """An illegal structure (违法建筑); ``status`` always equals its last event's."""

    __tablename__ = "violations"
    __table_args__ = (
        _check_in("kind", ViolationKind),
        _check_in("vtype", ViolationType),
        _check_in("source", DiscoverySource),
        _check_in("status", Status),
        CheckConstraint("area_m2 >= 0", name="area_nonnegative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(8), index=True)
    in_database: Mapped[bool] = mapped_column(Boolean, default=False)  # 库内
    vtype: Mapped[str] = mapped_column(String(16), index=True)
    is_key: Mapped[bool] = mapped_column(Boolean, default=False)  # 重点
    area_m2: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(200))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    discovered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), index=True)
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    rebuilt_from_id: Mapped[int | None] = mapped_column(ForeignKey("violations.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))

    __mapper_args__ = {"version_id_col": version}

    events: Mapped[list[ViolationEvent]] = relationship(
        back_populates="violation", order_by="ViolationEvent.id", viewonly=True
    )


class ViolationEvent(Base):
    """One step of an item's history. Append-only: a trigger rejects UPDATE and DELETE."""

    __tablename__ = "violation_events"
    __table_args__ = (
        _check_in("to_status", Status, "to_status_valid"),
        CheckConstraint(
            "from_status IS NULL OR from_status IN ("
            + ", ".join(f"'{s.value}'" for s in Status)
            + ")",
            name="from_status_valid",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violations.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    area_m2: Mapped[float | None] = mapped_column(Float)  # area concerned by this step (e.g. demolished m²)

    violation: Mapped[Violation] = relationship(back_populates="events")


class Complaint(Base):
    """A 12345 hotline ticket (诉件)."""

    __tablename__ = "complaints"
    __table_args__ = (
        _check_in("about", ViolationKind),
        _check_in("verdict", ComplaintVerdict),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(40), unique=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    about: Mapped[str] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(200))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violations.id"), index=True)
    is_key: Mapped[bool] = mapped_column(Boolean, default=True)
    verdict: Mapped[str] = mapped_column(String(8), default=ComplaintVerdict.PENDING.value)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    explained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # non-key, closed with explanation
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", srid=4326))


class User(Base):
    """A login with a role and an optional street scope."""

    __tablename__ = "users"
    __table_args__ = (
        _check_in("role", Role),
        CheckConstraint("role <> 'street' OR street_id IS NOT NULL", name="street_role_has_street"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Sortie(Base):
    """A drone sortie (出动): one flight by one pilot."""

    __tablename__ = "sorties"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    pilot: Mapped[str] = mapped_column(String(60), index=True)
    drone: Mapped[str | None] = mapped_column(String(60))
    flown_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    task: Mapped[str | None] = mapped_column(String(200))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326), nullable=True)


class Scene(Base):
    """A stored image (drone orthophoto or satellite scene), kept as a COG."""

    __tablename__ = "scenes"
    __table_args__ = (_check_in("sensor", Sensor),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(400))  # relative to the data folder
    original_name: Mapped[str] = mapped_column(String(400))
    sensor: Mapped[str] = mapped_column(String(10))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    crs: Mapped[str] = mapped_column(Text)
    resolution_m: Mapped[float] = mapped_column(Float)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    band_count: Mapped[int] = mapped_column(Integer)
    dtype: Mapped[str] = mapped_column(String(10))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sortie_id: Mapped[int | None] = mapped_column(ForeignKey("sorties.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    footprint: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))


class DetectionJob(Base):
    """Progress of the change-detection job of one scene (the queue itself is procrastinate's)."""

    __tablename__ = "detection_jobs"
    __table_args__ = (_check_in("state", JobState),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id"), unique=True)
    state: Mapped[str] = mapped_column(String(10), default=JobState.QUEUED.value)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Detection(Base):
    """A change found between two scenes, classified against the violation database."""

    __tablename__ = "detections"
    __table_args__ = (
        _check_in("change", DetectionChange),
        _check_in("klass", DetectionClass),
        _check_in("review_status", ReviewStatus),
        UniqueConstraint("scene_id", "before_scene_id", "fingerprint", name="uq_detections_identity"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id"), index=True)
    before_scene_id: Mapped[int] = mapped_column(ForeignKey("scenes.id"))
    fingerprint: Mapped[str] = mapped_column(String(64))  # makes re-runs idempotent
    change: Mapped[str] = mapped_column(String(12))
    klass: Mapped[str] = mapped_column(String(20), index=True)
    score: Mapped[float] = mapped_column(Float)
    area_m2: Mapped[float] = mapped_column(Float)
    area_before_m2: Mapped[float | None] = mapped_column(Float)
    area_after_m2: Mapped[float | None] = mapped_column(Float)  # known item grown: item ∪ change (0007)
    before_captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    after_captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"), index=True)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"))
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violations.id"), index=True)
    permit_id: Mapped[int | None] = mapped_column(ForeignKey("permits.id"))
    review_status: Mapped[str] = mapped_column(String(12), default=ReviewStatus.PENDING.value, index=True)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_note: Mapped[str | None] = mapped_column(Text)
    chip_before: Mapped[str | None] = mapped_column(String(400))
    chip_after: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))


class Permit(Base):
    """A lawful construction footprint (规划许可)."""

    __tablename__ = "permits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    permit_no: Mapped[str] = mapped_column(String(60), unique=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcels.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("admin_units.id"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326))


class AnnualTarget(Base):
    """Closure target (demolition + 补证销项) of one unit for one year."""

    __tablename__ = "annual_targets"
    __table_args__ = (UniqueConstraint("year", "unit_id", name="uq_annual_targets_year_unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_units.id"))
    closure_area_m2: Mapped[float] = mapped_column(Numeric(14, 2))
    closure_count: Mapped[int | None] = mapped_column(Integer)
    # 补证销项 is part of the closure target and may also have its own (revision 0003).
    permit_area_m2: Mapped[float | None] = mapped_column(Numeric(14, 2))
    permit_count: Mapped[int | None] = mapped_column(Integer)


class AuditEntry(Base):
    """Every login and every state change, for the audit trail."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
