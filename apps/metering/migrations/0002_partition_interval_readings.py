"""Re-create ``metering_intervalreading`` as a table partitioned by month of interval_start.

Django has no declarative partitioning, so the table made by 0001 (empty at
this point) is replaced by a partitioned one with the same columns and
constraints. Monthly partitions are created ahead of need by
``apps.metering.partitions.ensure_reading_partitions`` (beat task, importer,
seed). PostgreSQL requires the partition key in every unique key: the primary
key (supply_point_id, interval_start) has it.
"""

from django.db import migrations

CREATE = """
DROP TABLE metering_intervalreading;
CREATE TABLE metering_intervalreading (
    supply_point_id bigint NOT NULL
        CONSTRAINT metering_intervalreading_supply_point_fk
        REFERENCES metering_supplypoint (id) DEFERRABLE INITIALLY DEFERRED,
    interval_start timestamp with time zone NOT NULL,
    duration_minutes smallint NOT NULL
        CONSTRAINT metering_reading_duration_15_30_60 CHECK (duration_minutes IN (15, 30, 60)),
    kwh_import numeric(12, 3) NOT NULL,
    kwh_export numeric(12, 3) NOT NULL DEFAULT 0,
    quality varchar(10) NOT NULL DEFAULT 'ACTUAL',
    source varchar(32) NOT NULL DEFAULT '',
    received_at timestamp with time zone NOT NULL DEFAULT now(),
    CONSTRAINT metering_reading_energy_not_negative CHECK (kwh_import >= 0 AND kwh_export >= 0),
    PRIMARY KEY (supply_point_id, interval_start)
) PARTITION BY RANGE (interval_start);
"""

REVERSE = """
DROP TABLE metering_intervalreading;
CREATE TABLE metering_intervalreading (
    supply_point_id bigint NOT NULL REFERENCES metering_supplypoint (id) DEFERRABLE INITIALLY DEFERRED,
    interval_start timestamp with time zone NOT NULL,
    duration_minutes smallint NOT NULL CHECK (duration_minutes IN (15, 30, 60)),
    kwh_import numeric(12, 3) NOT NULL,
    kwh_export numeric(12, 3) NOT NULL,
    quality varchar(10) NOT NULL,
    source varchar(32) NOT NULL,
    received_at timestamp with time zone NOT NULL,
    CHECK (kwh_import >= 0 AND kwh_export >= 0),
    PRIMARY KEY (supply_point_id, interval_start)
);
"""


class Migration(migrations.Migration):
    dependencies = [("metering", "0001_initial")]
    operations = [migrations.RunSQL(CREATE, REVERSE)]
