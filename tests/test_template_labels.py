"""Label text as compared, and printed labels paired with the template's in order."""

from __future__ import annotations

import pytest

from ocr.template import align_sequence, normalize


def test_normalize_folds_what_ocr_varies() -> None:
    folded = "二部分公开三安全一稳定"
    assert normalize("（二）部分 公开\n“三安全一稳定”") == normalize('(二)部分公开"三安全一稳定"') == folded
    assert normalize("１．属于") == "1属于"


def test_order_pairs_only_what_the_labels_leave_unambiguous() -> None:
    """Unread labels pair by order only where the counts agree; with one more template item than
    printed ones and nothing read, any pairing would guess, so none is made."""
    assert align_sequence([[0.0] * 3 for _ in range(3)], [True] * 3) == [(0, 0, 1), (1, 1, 1), (2, 2, 1)]
    assert align_sequence([[0.0] * 4 for _ in range(3)], [True] * 3) == []
    # one label read plainly, unlike every template item: an extra row; the unread one takes the item
    assert align_sequence([[0.0], [5.0]], [True, False]) == [(0, 0, 1)]
    # a good label on each side pins the unread ones between them
    sims = [[90.0, 0, 0, 0], [0.0] * 4, [0.0] * 4, [0, 0, 0, 90.0]]
    assert align_sequence(sims, [False, True, True, False]) == [(0, 0, 1), (1, 1, 1), (2, 2, 1), (3, 3, 1)]


# ---------------------------------------------------------------- label cells given the template's wording


def _applications():
    from ocr.template import load_templates

    return next(t for t in load_templates()[0].tables if t.key == "applications")


@pytest.mark.parametrize(("read", "printed"), [
    ("(三)不子公开", "（三）不予公开"),  # 予 read as 子
    ("、结转下年度继续办理", "四、结转下年度继续办理"),  # its number lost
    ("1.本机关不掌握相关政府信息人", "1.本机关不掌握相关政府信息"),  # a seal's stroke read after it
    ("捉请人情况", "申请人情况"),
])
def test_a_misread_label_takes_the_one_template_label_it_can_be(read, printed):
    from ocr.template.relabel import nearest_label

    found = nearest_label(read, _applications().printed)
    assert found is not None and found.text == printed and 0.6 <= found.likeness < 1


@pytest.mark.parametrize("read", [
    "4,保护第三方合法权益",  # its letters are the label's: the comma may be what was printed
    "（四）无法提",  # the label's start: a narrow cell cuts print short as OCR does
    "2.其他",  # as like 3.其他 as 其他: two labels, so neither
    "多计",  # like 总计, but not enough
    "本年新收",  # part of a label
    "",
])
def test_a_reading_like_no_label_or_two_or_already_right_is_left_as_read(read):
    from ocr.template.relabel import nearest_label

    assert nearest_label(read, _applications().printed) is None


def test_relabel_keeps_the_reading_and_never_touches_a_value_cell():
    from ocr.model import Cell, Table
    from ocr.template.relabel import REPAIRED_CONFIDENCE, relabel

    def cell(col: int, text: str, kind: str = "label") -> Cell:
        return Cell(row=0, col=col, bbox=(col * 10, 0, col * 10 + 9, 9), text=text, confidence=0.3,
                    needs_review=True, kind=kind, flags=["low_confidence"])

    table = Table(page=1, bbox=(0, 0, 40, 10), n_rows=1, n_cols=4,
                  cells=[cell(0, "(三)不子公开"), cell(1, "(三)不子公开"), cell(2, "12", "number"), cell(3, "总计")])
    out = relabel(table, _applications(), values={(0, 1)})
    label, value, number, right = out.cells
    assert (label.text, label.read_text) == ("（三）不予公开", "(三)不子公开")
    assert "label_repaired" in label.flags and label.confidence == REPAIRED_CONFIDENCE
    assert value == table.cells[1] and number == table.cells[2] and right == table.cells[3]
    assert table.cells[0].text == "(三)不子公开"  # the input is not changed
    assert relabel(out.model_copy(update={"cells": [right]}), _applications()).cells == [right]
