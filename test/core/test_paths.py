"""core.paths: one cache root, moved by STEREO_DEPTH_CACHE or XDG_CACHE_HOME."""

from __future__ import annotations

from stereo_depth_ros.core.paths import cache_root


def test_one_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("STEREO_DEPTH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "stereo_depth_ros"
    monkeypatch.setenv("STEREO_DEPTH_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    monkeypatch.delenv("STEREO_DEPTH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "stereo_depth_ros"
