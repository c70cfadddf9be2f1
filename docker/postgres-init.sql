-- The store's own database beside Prefect's (POSTGRES_DB), owned by the same role; run once, on first start.
CREATE DATABASE reportscan OWNER reportscan;
