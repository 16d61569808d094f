import torch

from sslviz.augment.pretext import rotation_task, undo_rotation


def test_rotation_task_targets_and_undo_restores_the_images():
    x = torch.randint(0, 255, (5, 3, 8, 8), dtype=torch.uint8)
    inputs, targets = rotation_task(x)
    assert inputs.shape == (20, 3, 8, 8)
    assert targets.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    assert torch.equal(undo_rotation(inputs, targets), x.repeat(4, 1, 1, 1))
    assert torch.equal(inputs[5], torch.rot90(x[0], 1, dims=(-2, -1)))  # counter-clockwise quarter turn
    assert not torch.equal(inputs[5], x[0])
