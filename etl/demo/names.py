"""People, titles and sources for the random population (about one PI in ten has a non-ASCII name)."""

from __future__ import annotations

import unicodedata
from random import Random
from typing import Final

FIRST_NAMES: Final = (
    "Adam", "Alice", "Andrew", "Anna", "Benjamin", "Carlos", "Catherine", "Daniel", "David", "Elena",
    "Emily", "Eric", "Hannah", "Hiroshi", "Ian", "James", "Jennifer", "John", "Julia", "Kana", "Kevin",
    "Laura", "Lisa", "Mark", "Martin", "Mei", "Michael", "Naomi", "Nicolas", "Olivia", "Paul", "Peter",
    "Rachel", "Ryo", "Sarah", "Satoshi", "Simon", "Sophie", "Stephen", "Thomas", "Wei", "Yuki",
)
LAST_NAMES: Final = (
    "Anderson", "Bauer", "Brown", "Chen", "Clarke", "Davis", "Evans", "Fischer", "Garcia", "Hayashi",
    "Hughes", "Ito", "Johnson", "Kim", "Kobayashi", "Lee", "Li", "Lopez", "Martin", "Miller", "Moore",
    "Nakamura", "Nguyen", "Patel", "Roberts", "Rossi", "Sato", "Schmidt", "Smith", "Suzuki", "Tanaka",
    "Taylor", "Thompson", "Walker", "Wang", "Watanabe", "Williams", "Wilson", "Wright", "Zhang",
)
NON_ASCII_FIRST_NAMES: Final = (
    "José", "Søren", "Zoë", "Łukasz", "François", "Chloé", "Jiří", "Małgorzata", "Björn", "Ángela",
    "Jürgen", "Renée", "Tōru", "Håkan", "Iñaki", "Çağla", "Ştefan", "Žofia", "Éamonn", "Nuño",
)
NON_ASCII_LAST_NAMES: Final = (
    "Müller", "Núñez", "Çelik", "Dvořák", "Hernández", "Ångström", "Şahin", "Østergaard", "Gómez",
    "Lefèvre", "Kowalczyk-Wróbel", "Ōtsuka", "Böhm", "Peña", "Jäger", "Nováková", "Doğan", "Sørensen",
)

TOPICS: Final = (
    "Dust continuum", "Molecular gas", "CO kinematics", "Protoplanetary disk substructure",
    "Cold dust", "Dense gas tracers", "Complex organic molecules", "Magnetic fields",
    "Outflows and jets", "[CII] emission", "Water masers", "Deuterated molecules",
)
TARGET_CLASSES: Final = (
    "nearby spiral galaxies", "submillimetre galaxies at z > 4", "Class 0 protostars",
    "the Galactic Centre", "debris disks", "hot molecular cores", "luminous infrared galaxies",
    "AGB star envelopes", "infrared dark clouds", "transition disks", "quasar host galaxies",
)
NON_ASCII_TITLES: Final = (
    "Señales de formación estelar en ρ Ophiuchi",
    "Résolution de la cinématique du gaz dans NGC 1068",
    "The α-element budget of the Milky Way's inner disk",
    "Étude des disques de débris autour de β Pictoris",
    "Mapping the Δv structure of the Orion Bar",
    "Staub und Gas in Sternentstehungsgebieten: Südliche Wolken",
)
SOURCES: Final = (
    "NGC_253", "Orion_KL", "IRAS_16293-2422", "HD_163296", "SPT0346-52", "M83", "Sgr_B2", "TW_Hya",
    "G0.253+0.016", "Arp220", "AS_209", "J1058+0133", "W51e2", "HL_Tau", "NGC_1068", "Elias_2-27",
    "IRC+10216", "BHR71", "NGC_6334I", "Fomalhaut", "GN20", "SMM_J2135-0102", "L1527", "V883_Ori",
)


def pi_name(rng: Random) -> str:
    """A PI's full name; about 10 % of names carry non-ASCII letters."""
    if rng.random() < 0.10:
        first = rng.choice(NON_ASCII_FIRST_NAMES if rng.random() < 0.6 else FIRST_NAMES)
        return f"{first} {rng.choice(NON_ASCII_LAST_NAMES)}"
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def account(full_name: str) -> str:
    """The PI's ASCII account name (``Elisabeth Mills`` → ``emills``)."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode("ascii")
    first, _, last = ascii_name.partition(" ")
    return (first[:1] + last).lower().replace("-", "")


def project_title(rng: Random) -> str | None:
    """A proposal title; a few are non-ASCII, a few are missing (the PPR then says "Unknown")."""
    draw = rng.random()
    if draw < 0.02:
        return None
    if draw < 0.06:
        return rng.choice(NON_ASCII_TITLES)
    return f"{rng.choice(TOPICS)} in {rng.choice(TARGET_CLASSES)}"


def science_sources(rng: Random) -> list[str]:
    """The targets one science goal images (its FITS products are named after them)."""
    count = rng.choices((1, 2, 3, 4), weights=(60, 27, 10, 3))[0]
    return rng.sample(SOURCES, count)
