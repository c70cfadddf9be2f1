"""What `find_inputs` makes of the links in a folder a user names: followed, named as a duplicate, or failed."""

from __future__ import annotations

import os

from ocr.rasterize import find_inputs


def test_a_link_to_a_file_outside_is_followed(tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(b"x")
    folder = tmp_path / "in"
    folder.mkdir()
    os.symlink(outside, folder / "scan.png")
    notes: list[str] = []
    files, errors = find_inputs([str(folder)], notes)
    assert files == [folder / "scan.png"] and errors == [] and notes == []


def test_a_link_to_a_file_already_in_the_run_is_named_as_its_duplicate(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(b"x")
    os.symlink(folder / "a.pdf", folder / "b.pdf")
    notes: list[str] = []
    files, errors = find_inputs([str(folder)], notes)
    assert files == [folder / "a.pdf"] and errors == []
    assert notes == [f"{folder / 'b.pdf'}: duplicate of {folder / 'a.pdf'} (the same file), read once"]


def test_dangling_and_looping_links_are_failures_not_silence(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.png").write_bytes(b"x")
    os.symlink(tmp_path / "gone.pdf", folder / "gone.pdf")
    os.symlink(folder / "loop.tif", folder / "loop.tif")
    files, errors = find_inputs([str(folder)])
    assert files == [folder / "ok.png"]
    assert sorted(errors) == [f"{folder / 'gone.pdf'}: dangling or looping link (-> {tmp_path / 'gone.pdf'}), not read",
                              f"{folder / 'loop.tif'}: dangling or looping link (-> {folder / 'loop.tif'}), not read"]


def test_a_folder_of_only_a_dangling_link_says_so_once(tmp_path):
    os.symlink(tmp_path / "gone.pdf", tmp_path / "gone.pdf")
    files, errors = find_inputs([str(tmp_path)])
    assert files == [] and len(errors) == 1 and "dangling" in errors[0]


def test_the_same_file_named_twice_is_read_once_without_a_note(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    notes: list[str] = []
    files, _ = find_inputs([str(tmp_path / "a.png"), str(tmp_path / "a.png")], notes)
    assert files == [tmp_path / "a.png"] and notes == []
