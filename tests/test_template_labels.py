"""Label text as compared, and printed labels paired with the template's in order."""

from __future__ import annotations

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
