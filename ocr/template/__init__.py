"""Stage 7: document templates as data, and matching a record's tables to one.

A template (YAML under `ocr/templates/`) declares a document type: how to recognise it, its tables and
their row and column labels, the value type of every number and the arithmetic between them, so a new
report type is a new file, not new code. Matching never trusts positions alone, nor labels alone:
labels are compared fuzzily (OCR garbles them) and row and column order is the prior that places a
label too damaged to read between two that were read.

The modules, in the order a record passes through them:

- `spec`: the file format, its loader and checks, and the loaded `Template`;
- `identify`: which template a document is, and its agency, year and date;
- `chain`: a record's page parts joined into printed tables;
- `labels`: label text normalised and compared, and printed labels paired with the template's in order;
- `match`: a printed table cut into blocks, its rows and value columns paired with a template block's;
- `geometry`: those pairings checked against where the columns stand (slivers merged, a grid that
  disagrees with the template flagged, a column placed by order alone unconfirmed, rows off the grid);
- `fields`: the best placements chosen, each field key mapped to its cell, unknown rows kept.
"""

from ocr.template.fields import Alignment, align
from ocr.template.identify import identify, report_info
from ocr.template.labels import align_sequence, normalize, similarity
from ocr.template.spec import (
    TEMPLATES_DIR,
    Block,
    BlockSpec,
    ColumnSpec,
    ConstraintSpec,
    Group,
    IdentifySpec,
    Node,
    RowSpec,
    TableSpec,
    Template,
    TemplateSpec,
    TemplateTable,
    load_template,
    load_templates,
)

__all__ = [
    "TEMPLATES_DIR",
    "Alignment",
    "Block",
    "BlockSpec",
    "ColumnSpec",
    "ConstraintSpec",
    "Group",
    "IdentifySpec",
    "Node",
    "RowSpec",
    "TableSpec",
    "Template",
    "TemplateSpec",
    "TemplateTable",
    "align",
    "align_sequence",
    "identify",
    "load_template",
    "load_templates",
    "normalize",
    "report_info",
    "similarity",
]
