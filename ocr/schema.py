"""The record's JSON Schema, generated from the model that writes records (docs/record.schema.json)."""

from __future__ import annotations

import json
import sys

from ocr.model import Record


def record_schema() -> dict:
    schema = Record.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://reportscan.invalid/record.schema.json"
    return schema


def main() -> int:
    sys.stdout.write(json.dumps(record_schema(), ensure_ascii=False, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
