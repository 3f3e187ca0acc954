"""Datasets: CO3Dv2 sequences, a user's own posed images, the embedded synthetic cube (paper Section 4)."""

from customdiffusion360.datasets.co3d import CO3D_SOURCE, load_co3d
from customdiffusion360.datasets.common import Scene, azimuths_of, orbit_camera
from customdiffusion360.datasets.custom import load_custom
from customdiffusion360.datasets.synthetic import FACE_COLORS, VOCAB, render_cube, write_co3d_cube, write_generic

__all__ = [
    "CO3D_SOURCE",
    "FACE_COLORS",
    "VOCAB",
    "Scene",
    "azimuths_of",
    "load_co3d",
    "load_custom",
    "orbit_camera",
    "render_cube",
    "write_co3d_cube",
    "write_generic",
]
