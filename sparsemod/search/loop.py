"""The search loop (SpArSe, Fedorov et al. 2019, Sec. 3.3): Ax ask/tell over phases.

1. ``sobol``: ``r1`` quasi-random trials, ``epochs1`` epochs each;
2. ``gp``: ``r2`` rounds of ``batch_size`` trials picked by :mod:`sparsemod.optimizer` (a GP
   of the error beside the exact costs; qLogNEHVI on the active objectives, one objective:
   qLogNEI), ``epochs2`` epochs each;
3. ``morph``: ``r3`` rounds of ``batch_size`` children of Pareto parents, picked by the same
   acquisition function among ``candidates`` morphs and attached to Ax, trained ``epochs3``
   epochs from their parent's weights (:mod:`sparsemod.morphisms`).

Each trial is attached to Ax's record (:mod:`sparsemod.optimizer.record`) when asked, and
told to it when it finishes (completed with its four metrics, or failed with its reason) and recorded in the results folder before the next one is asked for.

With ``early_stopping``, every trial reports after each epoch that is one of its rungs (the
others would cost a validation pass for no decision) and the stopping rule
(:mod:`sparsemod.search.stopping`) may stop it; a stopped trial's row is its last report, its
metrics are attached to Ax without a progression (so the GP fits them like a completed
trial's: Ax fits the non-progression data of ``EARLY_STOPPED`` trials) and it is marked
early-stopped.  Each trial's reports are kept in its Ax run metadata, so a resumed search
rebuilds the rule's rungs.
"""

from __future__ import annotations

import time


from sparsemod import interrupt
from sparsemod.config import METRICS, TrainSettings
from sparsemod.errors import SearchStopped
from sparsemod.executors.base import Executor
from sparsemod.optimizer import kernel
from sparsemod.optimizer.proposer import Proposer
from sparsemod.optimizer.record import AxRecord, parameters_of, save_record
from sparsemod.problem import Problem
from sparsemod.progress import Progress
from sparsemod.report import write_report
from sparsemod.search.asking import Asking
from sparsemod.search.phases import Phase, phases
from sparsemod.search.prefetch import Prefetch
from sparsemod.search.stagnation import stagnation
from sparsemod.search.stopping import MOASHA
from sparsemod.store.results import ResultsFolder
from sparsemod.trial.job import Report, TrialJob, TrialResult

REPORT_SECONDS = 10.0  # pareto.png and report.html are redrawn at most this often, and at the end

class Search:
    """Runs the phases; a search resumed from its folder continues where it stopped."""

    def __init__(self, settings: TrainSettings, problem: Problem, executor: Executor,
                 results: ResultsFolder, record: AxRecord, proposer: Proposer):
        self.settings, self.problem, self.executor = settings, problem, executor
        self.results, self.record, self.proposer = results, record, proposer
        for index, trial in sorted(record.trials.items()):  # a resumed search's counts go on
            for phase, counts in trial.run_metadata.get("candidates", {}).items():
                proposer.restore_counts(phase, counts)
        earlier = results.read_times()
        self.earlier_total = earlier.pop("search", 0.0)
        self.phase_seconds: dict[str, float] = earlier
        self.phase_started: dict[str, float] = {}  # perf_counter at each phase's start, less its earlier seconds
        self.start = time.perf_counter()
        # why a phase stopped early, by phase (a stop ends that phase only; kept across resume)
        self.stopped: dict[str, str] = results.read_stops()
        self.prefetch = Prefetch()
        self.held: list[TrialJob] = []  # generated in the background for the next phase
        self.unsaved = False  # the record holds news experiment.json does not
        self.report_due = False  # a trial finished since pareto.png and report.html were drawn
        self.report_drawn = -REPORT_SECONDS  # when they were last drawn
        self.stopping = (MOASHA(settings.grace_epochs, settings.reduction_factor, settings.objective_names,
                                keep_front=settings.early_stopping == "moasha_front")
                         if settings.early_stopping != "none" else None)
        self.reports: dict[int, dict[int, Report]] = {}  # running trials' reports by epoch
        self.asking = Asking(settings, problem, record, results, proposer, self.stopping, self.stopped)
        if self.stopping is not None:
            for index, trial in sorted(record.trials.items()):
                for saved in trial.run_metadata.get("reports", []):
                    self.stopping.record(Report(index, **saved))

    def run(self) -> None:
        plan = [phase for phase in phases(self.settings, bool(self.problem.morphisms)) if phase.trials > 0]
        if self.proposer.scores_hypervolume and any(phase.name != "sobol" for phase in plan):
            kernel.build_in_background()  # BoTorch's one-time JIT build, while the Sobol trials train
        progress = Progress(sum(phase.trials for phase in plan), done=len(self.results.rows))
        interrupted = self._reconcile()
        try:
            for position, phase in enumerate(plan):
                upcoming = plan[position + 1] if position + 1 < len(plan) else None
                if phase.name != "sobol":
                    self._require_a_completed_trial(progress)
                self._run_phase(phase, upcoming, [j for j in interrupted if j.phase == phase.name], progress)
            self._write_times("finished")
        finally:
            self._join_prefetch(progress)
            self._abandon(list(self.held))
            self._flush_experiment()
            self._flush_report(final=True)
            self.prefetch.close()
            progress.close()
            self.executor.close()

    def _require_a_completed_trial(self, progress: Progress) -> None:
        """The GP models completed trials only: wait for one (the earlier phase's last trials
        may still train); when every Sobol trial failed there is nothing to model (nor a
        parent to morph), and sampling on could fail forever, so stop."""
        while not any(row["status"] == "completed" for row in self.results.rows) and self.executor.pending:
            self._flush_experiment()
            self._finish(self.executor.wait(self._judge), progress)
            self._write_times("running")
        if any(row["status"] == "completed" for row in self.results.rows):
            return
        reasons = list(dict.fromkeys(str(row["reason"]).splitlines()[0] for row in self.results.rows))
        message = (f"every one of the {len(self.results.rows)} Sobol trials failed, so the GP has "
                   f"nothing to model; first reasons: {' | '.join(reasons[:3])}")
        self._write_times(f"stopped: {message}")
        raise SearchStopped(message)

    def _run_phase(self, phase: Phase, upcoming: Phase | None, rerun: list[TrialJob],
                   progress: Progress) -> None:
        """Keep the executor full: ask when a slot is free (a whole ``batch`` when idle), and
        while trials run, have the next suggestions generated in the background.  Once all of
        its trials are submitted, a phase hands the free slots to the next one: its last trials
        (the start's dearest, trained last) finish beside the next phase's first, and no worker
        idles at the boundary; the last phase waits for every trial."""
        self.phase_started[phase.name] = time.perf_counter() - self.phase_seconds.get(phase.name, 0.0)
        asked = self.record.asked(phase.name) - len(self._held(phase))  # submitted to the executor
        for job in rerun:
            self.executor.submit(job)
        while asked < phase.trials or (self.executor.pending and upcoming is None):
            interrupt.check()  # between trials: a signal a library call swallowed stops the search
            free = self.executor.capacity - self.executor.pending
            if asked < phase.trials and phase.name not in self.stopped and phase.name != "sobol":
                reason = stagnation(self.results, self.settings, phase.name)
                if reason:
                    self.stopped[phase.name] = reason
                    progress.message(f"stopping the {phase.name} phase early: {reason}")
            if asked < phase.trials and free > 0 and phase.name not in self.stopped:
                count = min(phase.batch if self.executor.pending == 0 else free, phase.trials - asked)
                jobs = self._take_held(phase, count) or self._ask(phase, count, progress)
                self._submit(jobs)
                asked += len(jobs)
                if phase.name in self.stopped:
                    progress.message(f"stopping the {phase.name} phase early: {self.stopped[phase.name]}")
                continue
            if not self.executor.pending:
                break  # stopped early, nothing running
            self._flush_experiment()  # once per trial, and before the background ask uses Ax
            self._start_prefetch(phase if self.record.asked(phase.name) < phase.trials else upcoming)
            self._flush_report()  # while the next trial trains and the next ask runs
            result = self.executor.wait(self._judge)
            self._join_prefetch(progress)
            self._finish(result, progress)
            self.phase_seconds[phase.name] = time.perf_counter() - self.phase_started[phase.name]
            self._write_times("running")
        self._abandon(self._held(phase))  # generated for this phase, which stopped early

    def _judge(self, report: Report) -> bool:
        """A running trial's epoch report: keep it (a retried trial's replaces), and ask the
        stopping rule."""
        self.reports.setdefault(report.trial, {})[report.epoch] = report
        return self.stopping.on_report(report) if self.stopping is not None else True

    def _ask(self, phase: Phase, count: int, progress: Progress) -> list[TrialJob]:
        """Ask now, while no trial runs (the optimizer's time is not hidden)."""
        if phase.name != "sobol":
            progress.message(f"{phase.name}: fitting the model on {self.record.completed()} trials...")
        start, cpu = time.perf_counter(), time.thread_time()
        jobs = self.asking.suggest(phase, count)
        if not jobs and phase.name not in self.stopped:
            raise RuntimeError(f"no trial to run in phase {phase.name}")
        seconds = time.thread_time() - cpu
        self._add_optimizer_time(seconds, time.perf_counter() - start)
        if jobs:
            progress.message(f"{phase.name}: {self._trials(jobs)} suggested in {seconds:.1f} CPU s "
                             f"({self.proposer.counts[phase.name].line()})")
        return jobs

    def _start_prefetch(self, target: Phase | None) -> None:
        """Generate ``target``'s next trials in the background while the running ones train,
        once no submitted trial waits for a slot (later asks see more results)."""
        if (target is None or target.name == "sobol" or target.name in self.stopped
                or self.prefetch.running or self.held or not self.record.completed()
                or self.executor.pending > self.executor.capacity):
            return
        remaining = target.trials - self.record.asked(target.name)
        if remaining > 0:
            count = min(self.executor.capacity, remaining)
            self.prefetch.start(target.name, lambda: self.asking.suggest(target, count))

    def _join_prefetch(self, progress: Progress) -> None:
        """Hold the background ask's trials until a slot is free for them (unless the
        phase stops first)."""
        target = self.prefetch.phase
        if self.prefetch.busy:  # the slot is free and the optimizer still works: say so
            completed = sum(1 for row in self.results.rows if row["status"] == "completed")
            progress.message(f"{target}: waiting for the optimizer (a model of {completed} completed trials)...")
        try:
            done = self.prefetch.join()
        except Exception as error:  # e.g. nothing completed yet to fit to
            progress.message(f"{target}: the background ask failed ({type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else ''}); asking again when a slot frees")
            return
        if done is not None and not done.jobs and done.phase in self.stopped:
            progress.message(f"stopping the {done.phase} phase early: {self.stopped[done.phase]}")
        if done is None or not done.jobs:
            return
        self._add_optimizer_time(done.seconds, done.waited)
        progress.message(f"{done.phase}: {self._trials(done.jobs)} suggested in {done.seconds:.1f} CPU s "
                         f"(waited for: {done.waited:.1f} s)")
        self.held.extend(done.jobs)
        self._save_experiment()  # a resumed search runs the held trials

    def _held(self, phase: Phase) -> list[TrialJob]:
        return [job for job in self.held if job.phase == phase.name]

    def _take_held(self, phase: Phase, count: int) -> list[TrialJob]:
        taken = self._held(phase)[:count]
        self.held = [job for job in self.held if job not in taken]
        return taken

    def _submit(self, jobs: list[TrialJob]) -> None:
        for job in jobs:
            self.executor.submit(job)
        if jobs:
            self._save_experiment()  # on disk before they run: a resumed search re-runs them

    def _abandon(self, jobs: list[TrialJob]) -> None:
        """Trials generated for a phase that will not run them (it stopped early, or the
        search ended) are abandoned in Ax: they count as neither pending nor failed."""
        for job in jobs:
            self.record.client.mark_trial_abandoned(job.index)
            self.held.remove(job)
        if jobs:
            self._save_experiment()

    @staticmethod
    def _trials(jobs: list[TrialJob]) -> str:
        return "trial " + str(jobs[0].index) if len(jobs) == 1 else "trials " + ", ".join(str(j.index) for j in jobs)

    def _add_optimizer_time(self, seconds: float, waited: float) -> None:
        """``seconds``: the asks' CPU seconds; ``waited``: wall seconds the search waited for them."""
        self.phase_seconds["optimizer"] = self.phase_seconds.get("optimizer", 0.0) + seconds
        self.phase_seconds["optimizer not hidden"] = self.phase_seconds.get("optimizer not hidden", 0.0) + waited

    def _reconcile(self) -> list[TrialJob]:
        """After a kill: tell Ax the trials trials.csv has but experiment.json still shows
        running; return the jobs of trials that were running and must run again."""
        recorded = {int(row["index"]): row for row in self.results.rows}
        by_name = {phase.name: phase for phase in phases(self.settings)}
        rerun = []
        for index, trial in self.record.trials.items():
            if not trial.status.is_running:
                continue
            if index in recorded:
                row = recorded[index]
                self.record.tell(index, row["status"], {m: float(row[m]) for m in METRICS},
                           str(row["reason"]))
            else:
                rerun.append(self.asking.job(index, by_name[self.record.phase_of(index)], parameters_of(trial)))
        if self.results.rows:  # pareto.csv, .png, report.html may predate trials.csv (a kill between writes)
            pareto = self.results.write_tables()
            write_report(self.results.folder, self.results.table(), pareto, self.settings.objective_names)
        if self.results.rows or rerun:
            self.results.drop_models_off_front(self.record.parents_in_use())
            self._save_experiment()
            self._flush_experiment()
        return rerun

    def _finish(self, result: TrialResult, progress: Progress) -> None:
        if result.job.phase in self.phase_started:  # a phase lasts until its last trial ends
            self.phase_seconds[result.job.phase] = time.perf_counter() - self.phase_started[result.job.phase]
        self._keep_reports(result.job.index)
        # recorded before Ax is told: when a write fails (a full disk), the experiment.json the
        # clean-up saves still shows the trial running, and a resume runs it again
        on_front = self.results.record(result, self.record.parents_in_use(excluding=result.job.index))
        self.record.tell(result.job.index, result.status, result.metrics, result.reason)
        self._save_experiment()
        self.report_due = True
        progress.trial_finished(result, on_front)

    def _keep_reports(self, index: int) -> None:
        """A finished trial's epoch reports go into its Ax run metadata, saved while Ax still
        has it running: a search killed before its snapshot shows the trial finished
        (trials.csv is written first) still finds them when it resumes."""
        reports = list(self.reports.pop(index, {}).values())
        if reports:
            self.record.trials[index].update_run_metadata({"reports": [
                {"epoch": r.epoch, "max_epochs": r.max_epochs, "metrics": r.metrics, "bracket": r.bracket}
                for r in reports]})
            self._save_experiment()
            self._flush_experiment()  # now, before trials.csv has the trial's row

    def _save_experiment(self) -> None:
        """Mark experiment.json out of date; :meth:`_flush_experiment` writes it once per
        trial (a write costs ~0.2 s at 20 trials). What a kill loses in between, trials.csv
        holds, and resume re-tells it from there."""
        self.unsaved = True

    def _flush_experiment(self) -> None:
        if self.unsaved:
            save_record(self.record, self.results.folder / "experiment.json")
            self.unsaved = False

    def _flush_report(self, final: bool = False) -> None:
        """pareto.png and report.html (~0.5 s to draw, on the core where the optimizer runs)
        are drawn after the next trial is submitted, at most every ``REPORT_SECONDS``, and
        once at the end: pictures for a person, who reads them no faster.  trials.csv and
        pareto.csv, which resume reads, are written as each trial finishes."""
        now = time.perf_counter()
        if self.report_due and (final or now - self.report_drawn >= REPORT_SECONDS):
            table = self.results.table()
            write_report(self.results.folder, table, self.results.pareto(table), self.settings.objective_names)
            self.report_due, self.report_drawn = False, now

    def _write_times(self, state: str) -> None:
        total = self.earlier_total + time.perf_counter() - self.start
        self.results.write_times(self.phase_seconds, total, state, self.stopped, self._scoring_notes())

    def _scoring_notes(self) -> list[str]:
        """How the morph children were picked: by the acquisition function, or (when it could
        not score them) in the order drawn, with the first reason."""
        candidates = [f"candidates: {self.proposer.summary()}"] if self.proposer.counts else []
        morph = [t.run_metadata for t in self.record.trials.values()
                 if t.run_metadata.get("phase") == "morph"]
        if not morph:
            return candidates
        unscored = [m["unscored"] for m in morph if "unscored" in m]
        note = (f"morph scoring: {len(morph) - len(unscored)} of {len(morph)} children ranked by the "
                "acquisition function")
        return candidates + [note + (f"; {len(unscored)} in draw order ({unscored[0]})" if unscored else "")]
