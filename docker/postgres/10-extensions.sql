-- Run once by the postgres image's entrypoint when it initialises an empty data directory
-- (/docker-entrypoint-initdb.d), as the superuser, in POSTGRES_DB. pgvector is not a trusted
-- extension, so the suite's own role could not create it; the memory service's first migration
-- then finds it (CREATE EXTENSION IF NOT EXISTS).
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;
