import pytest

torch = pytest.importorskip("torch", reason="training tests need the 'training' extra (torch)")
