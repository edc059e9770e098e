"""The random population: ALMA-like projects drawn from one seeded PRNG, cycle by cycle.

Proportions (roughly; see docs/demo-archive.md for measured values): arrays 12-m 60 %, 7-m 25 %,
TP 15 %; QA0 Pass 85 %, SemiPass 7 %, Fail 8 %; NULL EB end 1 %; NULL session end ≈2 % (with its last
EB's end, or alone) and start 1 %; 5 % of EBs with two or three shift-log rows; ASA_SCIENCE missing a
Pass EB / filing one under a second MOUS 0.5 % of MOUSes each; two SBs 0.5 %; Deleted 0.5 %; status
XML NULL 1 %, truncated 0.2 %; release 12 months after delivery, NULL 1 %.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Final

from etl.demo.builders import (
    RELEASE_DELAY,
    deliver,
    exec_block,
    last_observed,
    recipe_flags,
    session_around,
)
from etl.demo.cycles import CYCLES, Cycle
from etl.demo.model import (
    ARRAYS,
    FAIL,
    PASS,
    PENDING,
    SEMIPASS,
    UNSET,
    ArrayName,
    ExecBlock,
    Mous,
    Project,
    Recipe,
    SchedBlock,
    ScienceGoal,
    Session,
    XmlForm,
)
from etl.demo.names import account, pi_name, project_title, science_sources
from etl.demo.uids import (
    POPULATION_EB_OFFSET,
    POPULATION_FIRST_KEY,
    POPULATION_FIRST_RANGE,
    A001Range,
    ExecBlockUids,
    Keys,
    PartIds,
)

# Member OUSes one science goal asks for, and how often (12-m 58 %, 7-m 26 %, TP 16 % overall).
GOAL_ARRAYS: Final[tuple[tuple[ArrayName, ...], ...]] = (
    ("12m",), ("12m", "12m"), ("12m", "7m"), ("12m", "7m", "TP"), ("12m", "12m", "7m", "TP"),
    ("7m",), ("7m", "TP"),
)
GOAL_ARRAY_WEIGHTS: Final = (40, 12, 14, 18, 6, 5, 5)
SESSIONS_PER_MOUS: Final[dict[ArrayName, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    "12m": ((1, 2, 3, 4), (55, 28, 11, 6)),
    "7m": ((1, 2, 3, 4, 5, 6), (28, 28, 20, 11, 8, 5)),
    "TP": ((1, 2, 3, 4, 5, 6, 7, 8), (14, 18, 20, 16, 12, 9, 6, 5)),
}
SESSION_GAP_DAYS: Final[dict[ArrayName, int]] = {"12m": 12, "7m": 30, "TP": 30}
EB_MINUTES: Final[dict[ArrayName, tuple[int, int]]] = {"12m": (35, 80), "7m": (45, 95), "TP": (40, 90)}
BANDS: Final = ("ALMA_RB_03", "ALMA_RB_04", "ALMA_RB_05", "ALMA_RB_06", "ALMA_RB_07", "ALMA_RB_08",
                "ALMA_RB_09", "ALMA_RB_10", "ALMA_RB_01")
BAND_WEIGHTS: Final = (25, 8, 4, 28, 22, 6, 5, 2, 3)
# Unprocessed MOUSes, by how far along their processing delay "now" is.
PROCESSING_STATES: Final = (
    (0.15, "FullyObserved"), (0.30, "ReadyForProcessing"), (0.60, "Processing"),
    (0.68, "ProcessingProblem"), (0.80, "ReadyForReview"), (0.90, "Reviewing"), (0.96, "Verified"),
    (1.00, "DeliveryInProgress"),
)
QA0_PENDING_WINDOW: Final = timedelta(days=4)
QA0_UNSET_WINDOW: Final = timedelta(hours=12)


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` by ``weights`` (largest remainder; ties to the earlier entry)."""
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in remainders[: total - sum(shares)]:
        shares[index] += 1
    return shares


class Population:
    """Draws random projects until the requested number of member OUSes exists."""

    def __init__(self, seed: int, as_of: datetime, reserved_codes: Sequence[str]) -> None:
        self.rng = Random(seed)
        self.as_of = as_of
        self.ebs = ExecBlockUids(POPULATION_EB_OFFSET, self.rng)
        self.keys = Keys(POPULATION_FIRST_KEY, POPULATION_FIRST_KEY, POPULATION_FIRST_KEY)
        self.next_range = POPULATION_FIRST_RANGE
        # Proposal numbers are unique within a cycle whatever the suffix.
        self.reserved = {code.rsplit(".", 1)[0] for code in reserved_codes}

    def projects(self, mous_count: int) -> Iterator[Project]:
        """Projects in cycle order holding ``mous_count`` member OUSes in all."""
        cycles = [cycle for cycle in CYCLES if cycle.observing_start < self.as_of]
        if not cycles:
            return
        for cycle, target in zip(cycles, apportion(mous_count, [c.weight for c in cycles]), strict=True):
            numbers = self._proposal_numbers(cycle)
            made = 0
            while made < target:
                project = self._project(cycle, next(numbers), target - made)
                made += len(project.mouses())
                yield project

    def _proposal_numbers(self, cycle: Cycle) -> Iterator[int]:
        number = 0
        while True:
            number += self.rng.randint(1, 3)
            if f"{cycle.code}.{number:05d}" not in self.reserved:
                yield number

    def _range(self) -> A001Range:
        self.next_range += 1
        return A001Range(self.next_range - 1, self.rng, first=self.rng.randint(1, 0x40))

    def _xml_form(self) -> XmlForm:
        draw = self.rng.random()
        if draw < 0.01:
            return XmlForm.NULL
        return XmlForm.MALFORMED if draw < 0.012 else XmlForm.FULL

    def _project(self, cycle: Cycle, number: int, room: int) -> Project:
        rng = self.rng
        suffix = rng.choices("SLTA", weights=(95, 1, 2, 2))[0]
        documents, statuses, parts = self._range(), self._range(), PartIds(rng)
        pi = pi_name(rng)
        project = Project(
            code=f"{cycle.code}.{number:05d}.{suffix}",
            cycle=cycle,
            obsproject_uid=documents.allocate(),
            proposal_uid=documents.allocate(),
            status_uid=documents.allocate(),
            root_uid=statuses.allocate(),
            root_part_id=parts.allocate(),
            title=project_title(rng),
            pi_account=account(pi),
            pi_fullname=pi,
            grade="A" if suffix == "L" else rng.choices("ABC", weights=(35, 45, 20))[0],
            executive=rng.choices(("EU", "NA", "EA", "CL"), weights=(34, 34, 22, 10))[0],
            root_xml_form=self._xml_form(),
        )
        goal_count = rng.randint(4, 12) if suffix == "L" else rng.choices(
            (1, 2, 3, 4, 5, 6), weights=(45, 25, 13, 8, 5, 4)
        )[0]
        made = 0
        for _ in range(goal_count):
            if made >= room:
                break
            goal = self._goal(project, statuses, parts, room - made)
            project.goals.append(goal)
            made += len(goal.mouses)
        self._file_asa_anomalies(project)
        return project

    def _goal(self, project: Project, statuses: A001Range, parts: PartIds, room: int) -> ScienceGoal:
        rng = self.rng
        goal = ScienceGoal(statuses.allocate(), parts.allocate(), statuses.allocate(), parts.allocate(),
                           xml_form=self._xml_form())
        arrays = rng.choices(GOAL_ARRAYS, weights=GOAL_ARRAY_WEIGHTS)[0][:room]
        band = rng.choices(BANDS, weights=BAND_WEIGHTS)[0]
        if band == "ALMA_RB_01" and project.cycle.number < 10:
            band = "ALMA_RB_03"
        sources = science_sources(rng)
        for index, array in enumerate(arrays):
            # A second 12-m MOUS is the compact configuration (TM2).
            suffix = "TM2" if array == "12m" and "12m" in arrays[:index] else ARRAYS[array].sb_suffix
            name = f"{sources[0]}_{'abcdefgh'[len(goal.mouses)]}_{band[-2:]}_{suffix}"
            goal.mouses.append(self._mous(project, array, name, band, statuses, parts, sources))
        return goal

    def _mous(
        self,
        project: Project,
        array: ArrayName,
        sb_name: str,
        band: str,
        statuses: A001Range,
        parts: PartIds,
        sources: Sequence[str],
    ) -> Mous:
        rng = self.rng
        requested = ARRAYS[array].requested_array
        if array == "7m" and project.cycle.number <= 4 and rng.random() < 0.5:
            requested = "ACA"
        mous = Mous(statuses.allocate(), parts.allocate(), array, requested, "Ready", None, "Unset",
                    Recipe.NONE)
        sb_count = 2 if rng.random() < 0.005 else 1
        # A few SBs have no name in the archive (a PPR then says SBTitle "unknown").
        named = rng.random() >= 0.01
        mous.sbs = [
            SchedBlock(statuses.allocate(), statuses.allocate(),
                       f"{sb_name}{'' if i == 0 else '_b'}" if named else None, "Ready", band, 0)
            for i in range(sb_count)
        ]
        complete = self._observe(mous, project.cycle)
        self._review_qa0(mous)
        self._process(mous, project, sources, complete)
        if rng.random() < 0.005:
            mous.state = "Deleted"
        mous.xml_form = self._mous_xml_form(mous)
        return mous

    def _observe(self, mous: Mous, cycle: Cycle) -> bool:
        """Lay out sessions and EBs; returns False when "now" cut the observations short."""
        rng = self.rng
        if rng.random() < 0.01:
            return self.as_of >= cycle.observing_end  # never observed
        counts, weights = SESSIONS_PER_MOUS[mous.array]
        window_end = min(cycle.observing_end, self.as_of)
        span = int((window_end - cycle.observing_start).total_seconds() * 1000)
        cursor = cycle.observing_start + timedelta(milliseconds=rng.randrange(span))
        for number in range(rng.choices(counts, weights=weights)[0]):
            if number:
                cursor += timedelta(days=rng.randint(1, SESSION_GAP_DAYS[mous.array]),
                                    milliseconds=rng.randrange(86_400_000))
            session, cursor = self._session(mous, mous.sbs[number % len(mous.sbs)], cursor)
            if session is None:
                return False
            mous.sessions.append(session)
        return True

    def _session(self, mous: Mous, sb: SchedBlock, cursor: datetime) -> tuple[Session | None, datetime]:
        rng = self.rng
        ebs: list[ExecBlock] = []
        session_id = 0
        low, high = EB_MINUTES[mous.array]
        for _ in range(rng.choices((1, 2, 3), weights=(66, 27, 7))[0]):
            if cursor >= self.as_of:
                break
            if not ebs:
                session_id = self.keys.sessions.allocate()
            qa0 = rng.choices((PASS, SEMIPASS, FAIL), weights=(85, 7, 8))[0]
            minutes = rng.randint(low, high) if qa0 != FAIL else rng.randint(8, low)
            end: datetime | None = cursor + timedelta(minutes=minutes, milliseconds=rng.randrange(60_000))
            if end is not None and (end > self.as_of or rng.random() < 0.01):
                end = None
            rows = rng.choice((2, 3)) if rng.random() < 0.05 else 1
            # A failed execution was usually stopped part-way.
            fraction = Decimal(rng.randint(50, 950)) / 1000 if qa0 == FAIL else Decimal(1)
            ebs.append(exec_block(self.ebs.allocate(cursor), sb, qa0, cursor, end, session_id,
                                  self.keys, rows, fraction))
            cursor = (end or cursor + timedelta(minutes=minutes)) + timedelta(
                seconds=rng.randint(60, 360), milliseconds=rng.randrange(1000))
        if not ebs:
            return None, cursor
        # A session whose last EB has no end is open too; few others are left open on their own.
        session = session_around(session_id, ebs, rng.random() >= 0.01, rng.random() >= 0.008)
        return session, cursor

    def _review_qa0(self, mous: Mous) -> None:
        """Recent EBs await QA0; otherwise most MOUSes end up with at least one Pass EB."""
        ebs = mous.all_ebs()
        for eb in ebs:
            if eb.start > self.as_of - QA0_UNSET_WINDOW:
                eb.qa0 = UNSET
            elif eb.start > self.as_of - QA0_PENDING_WINDOW:
                eb.qa0 = PENDING
        reviewed = [eb for eb in ebs if eb.qa0 in (PASS, SEMIPASS, FAIL)]
        no_pass = reviewed and len(reviewed) == len(ebs) and all(eb.qa0 != PASS for eb in ebs)
        # ALMA re-observes until an SB has good data; a few MOUSes time out without any.
        if no_pass and self.rng.random() < 0.9:
            self.rng.choice(reviewed).qa0 = PASS
        for sb in mous.sbs:
            sb.execution_count = max(1, sum(1 for eb in ebs if eb.sb is sb and eb.qa0 == PASS))

    def _process(self, mous: Mous, project: Project, sources: Sequence[str], complete: bool) -> None:
        ebs = mous.all_ebs()
        awaiting_qa0 = any(eb.qa0 in (PENDING, UNSET) for eb in ebs)
        if not complete or awaiting_qa0:
            mous.state = "Ready"
            self._set_sb_state(mous, "Running" if ebs else "Ready")
            return
        self._set_sb_state(mous, "FullyObserved")
        if not any(eb.qa0 == PASS for eb in ebs):
            mous.state = "ObservingTimedOut"
            return
        cycle = project.cycle
        recipe = self._recipe(cycle, mous.array)
        delay = timedelta(days=self.rng.randint(*cycle.processing_days))
        done = (last_observed(mous) + delay).replace(microsecond=0)
        if done > self.as_of:
            progress = 1 - (done - self.as_of) / delay
            mous.state = next(state for limit, state in PROCESSING_STATES if progress <= limit)
            mous.flags = None if mous.state == "FullyObserved" else self._flags(recipe, mous.array)
            return
        mous.state, mous.recipe, mous.flags = "Delivered", recipe, self._flags(recipe, mous.array)
        mous.qa2 = PASS if self.rng.random() < 0.95 else SEMIPASS
        release, comment = self._release(done)
        deliver(mous, cycle, sources, self.rng, self.keys, done, release, comment)

    @staticmethod
    def _set_sb_state(mous: Mous, state: str) -> None:
        for sb in mous.sbs:
            sb.state = state

    def _recipe(self, cycle: Cycle, array: ArrayName) -> Recipe:
        rng = self.rng
        if array == "TP" and not cycle.has_single_dish_pipeline:
            return Recipe.MANUAL
        if rng.random() < cycle.manual_share:
            return Recipe.MANUAL
        return Recipe.UNSPLIT if rng.random() < cycle.unsplit_share else Recipe.PIPELINE

    def _flags(self, recipe: Recipe, array: ArrayName) -> str | None:
        flags = recipe_flags(recipe, array)
        # Some interferometric MOUSes are calibrated only; their imaging is a separate step.
        if array != "TP" and flags is not None and self.rng.random() < 0.15:
            flags = flags.replace("CalAndImg", "Calibration")
        return flags

    def _release(self, delivered: datetime) -> tuple[datetime | None, str | None]:
        draw = self.rng.random()
        if draw < 0.01:
            return None, None
        if draw < 0.02:
            return delivered + RELEASE_DELAY + timedelta(days=182), "proprietary period extended"
        return delivered + RELEASE_DELAY, None

    def _mous_xml_form(self, mous: Mous) -> XmlForm:
        form = self._xml_form()
        if form is XmlForm.FULL and len(mous.sessions) > 1 and self.rng.random() < 0.003:
            return XmlForm.STALE
        return form

    def _file_asa_anomalies(self, project: Project) -> None:
        """ASA_SCIENCE's known errors: a Pass EB missing, a Pass EB filed under a second MOUS."""
        mouses = project.mouses()
        for mous in mouses:
            passed = [eb for eb in mous.all_ebs() if eb.qa0 == PASS]
            if not passed:
                continue
            if self.rng.random() < 0.005:
                self.rng.choice(passed).asa_listed = False
            others = [other.uid for other in mouses if other is not mous]
            if others and self.rng.random() < 0.005:
                self.rng.choice(passed).asa_also_under = self.rng.choice(others)


def random_projects(
    mous_count: int, seed: int, as_of: datetime, reserved_codes: Sequence[str]
) -> Iterator[Project]:
    """The random population for ``seed``: ``mous_count`` member OUSes in ALMA-like projects."""
    return Population(seed, as_of, reserved_codes).projects(mous_count)
