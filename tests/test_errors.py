from sparsemod.errors import one_line


def test_one_line_flattens_names_and_cuts():
    error = RuntimeError("shape mismatch:\n  expected [1, 8]\n\tgot [1, 9]  ")
    assert one_line(error) == "shape mismatch: expected [1, 8] got [1, 9]"
    assert one_line(error, typed=True) == "RuntimeError: shape mismatch: expected [1, 8] got [1, 9]"
    assert one_line(error, typed=True, limit=20) == "RuntimeError: shape "
    assert one_line("a\nb") == "a b"
