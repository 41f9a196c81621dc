-- A clinic's appointments: the schema under review (PostgreSQL dialect; the review
-- transpiles it for SQLite and DuckDB). Replace it with your own DDL.
CREATE TABLE doctors (
    id BIGINT PRIMARY KEY,
    name VARCHAR(120) NOT NULL,
    speciality VARCHAR(40) NOT NULL
);

CREATE TABLE patients (
    id BIGINT PRIMARY KEY,
    email VARCHAR(200) NOT NULL UNIQUE,
    name VARCHAR(120) NOT NULL,
    born_on DATE NOT NULL
);

CREATE TABLE appointments (
    id BIGINT PRIMARY KEY,
    doctor_id BIGINT NOT NULL REFERENCES doctors (id),
    patient_id BIGINT NOT NULL REFERENCES patients (id),
    starts_at TIMESTAMPTZ NOT NULL,
    minutes INTEGER NOT NULL CHECK (minutes BETWEEN 5 AND 120),
    status VARCHAR(12) NOT NULL CHECK (status IN ('booked', 'done', 'cancelled', 'no_show'))
);
CREATE INDEX ix_appointments_patient_id ON appointments (patient_id);

CREATE TABLE invoices (
    id BIGINT PRIMARY KEY,
    appointment_id BIGINT NOT NULL UNIQUE REFERENCES appointments (id),
    amount DOUBLE PRECISION NOT NULL CHECK (amount >= 0),
    paid_at TIMESTAMPTZ
);
