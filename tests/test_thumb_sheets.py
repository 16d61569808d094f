"""The images behind a map's points as sprite sheets (sslviz/embeddings/thumb_sheets.py), for the
thumbnails under the pointer: each point's image sits in the cell its row names, at CELL px."""

import numpy as np
import pytest
import torch
from PIL import Image

from sslviz.embeddings import thumb_sheets as T


def test_a_row_names_its_sheet_and_cell():
    assert T.cell_of(0) == (0, 0, 0)
    assert T.cell_of(T.COLUMNS + 2) == (0, 2 * T.CELL, T.CELL)
    assert T.cell_of(T.PER_SHEET + 1) == (1, T.CELL, 0)
    assert T.sheet_count(0) == 0 and T.sheet_count(1) == 1 and T.sheet_count(T.PER_SHEET + 1) == 2


def test_each_image_lands_in_its_cell_grey_as_three_channels():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, T.CELL, T.CELL), dtype=torch.uint8, generator=g)  # no resize needed
    sheet = T.sheet_image(images)
    assert sheet.shape == (2 * T.CELL, T.COLUMNS * T.CELL, 3) and sheet.dtype == np.uint8
    for row in (0, 5, T.COLUMNS + 7):
        _, x, y = T.cell_of(row)
        cell = sheet[y:y + T.CELL, x:x + T.CELL]
        assert np.array_equal(cell[..., 0], images[row, 0].numpy()) and np.array_equal(cell[..., 2], cell[..., 0])


def test_smaller_images_are_resized_to_a_cell():
    images = torch.full((3, 3, 28, 28), 200, dtype=torch.uint8)
    sheet = T.sheet_image(images)
    assert sheet.shape == (T.CELL, T.COLUMNS * T.CELL, 3)
    assert np.all(sheet[:T.CELL, :3 * T.CELL] == 200) and np.all(sheet[:, 3 * T.CELL:] == 0)


def test_too_many_images_for_one_sheet_is_an_error():
    with pytest.raises(ValueError, match="at most"):
        T.sheet_image(torch.zeros((T.PER_SHEET + 1, 1, 8, 8), dtype=torch.uint8))


def test_write_sheets_writes_each_sheet_once_and_keeps_what_is_there(tmp_path):
    images = torch.randint(0, 256, (T.PER_SHEET + 10, 3, 16, 16), dtype=torch.uint8)
    assert T.write_sheets(images, tmp_path / "s") == 2
    first = (tmp_path / "s" / "0.png").stat().st_mtime_ns
    assert T.write_sheets(images, tmp_path / "s") == 2 and (tmp_path / "s" / "0.png").stat().st_mtime_ns == first
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["0.png", "1.png"]  # no temporary files left
    second = np.asarray(Image.open(tmp_path / "s" / "1.png"))
    assert second.shape == (T.CELL, T.COLUMNS * T.CELL, 3)
    assert np.array_equal(second[:T.CELL, :T.CELL], T.sheet_image(images[T.PER_SHEET:T.PER_SHEET + 1])[:, :T.CELL])
    # asked to stop (a server shutting down): nothing more is written
    assert T.write_sheets(images, tmp_path / "t", stop=lambda: True) == 0


def test_a_sheet_left_half_written_is_cleared_and_written_again(tmp_path):
    """A server ended mid-sheet (os._exit) leaves its temporary file: the next writer removes it once it
    is older than STALE_SECONDS and writes the sheet; a fresh one (another writer at work) is left alone."""
    import os
    import time

    images = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    folder = tmp_path / "s"
    folder.mkdir()
    stale, fresh = folder / ".0.999.tmp", folder / ".0.998.tmp"
    stale.write_bytes(b"half a png")
    fresh.write_bytes(b"being written")
    old = time.time() - T.STALE_SECONDS - 5
    os.utime(stale, (old, old))
    assert T.write_sheets(images, folder) == 1
    assert not stale.exists() and fresh.exists() and (folder / "0.png").exists()
