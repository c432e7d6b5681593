"""Demo datasets (added once: nothing happens when datasets exist)."""

from __future__ import annotations

from sqlalchemy import func, select
from tangsel_rp.db import make_engine, make_sessionmaker, transaction

from data_portal.models import Base, Dataset, DatasetVersion
from data_portal.service import inspect_csv, utcnow
from data_portal.settings import PortalSettings

DEMO = [
    (
        "Jumlah Penduduk per Kecamatan 2024",
        "DISDUKCAPIL",
        "Dinas Kependudukan dan Pencatatan Sipil",
        "public",
        "CC-BY-4.0",
        "kecamatan,laki_laki,perempuan\nSerpong,98000,97500\nPamulang,162000,161000\n"
        "Ciputat,117000,116500\n",
    ),
    (
        "Titik Wi-Fi Publik",
        "DISKOMINFO",
        "Dinas Komunikasi dan Informatika",
        "public",
        "CC0-1.0",
        "kode,nama,kecamatan\nTSL-0001,Taman Kota 1,Serpong\nTSL-0002,Alun-alun Ciputat,Ciputat\n",
    ),
    (
        "Stok Obat Puskesmas (internal)",
        "DINKES",
        "Dinas Kesehatan",
        "restricted",
        "Terbatas",
        "puskesmas,obat,stok\nPamulang,Paracetamol,1200\nSerpong,Amoxicillin,300\n",
    ),
]


def seed(settings: PortalSettings) -> int:
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:
        if db.scalar(select(func.count()).select_from(Dataset)):
            return 0
        for title, code, agency, visibility, licence, content in DEMO:
            now = utcnow()
            dataset = Dataset(
                title=title,
                agency_code=code,
                agency_name=agency,
                visibility=visibility,
                licence=licence,
                description=f"Data {agency}.",
                created_by="demo",
                created_at=now,
                updated_at=now,
            )
            db.add(dataset)
            db.flush()
            data = content.encode()
            columns, rows = inspect_csv(data, len(data))
            db.add(
                DatasetVersion(
                    dataset_id=dataset.id,
                    number=1,
                    filename="data.csv",
                    content=data,
                    size=len(data),
                    row_count=rows,
                    columns=columns,
                    uploaded_by="demo",
                    uploaded_at=now,
                )
            )
    engine.dispose()
    return len(DEMO)
