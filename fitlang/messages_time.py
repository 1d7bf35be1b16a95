"""The diagnostics of time (issue 19: a horizon, windows, prices per step, carbon, recurring
jobs, offer prices per step), one class each: `fitlang/messages.py`'s, kept apart to keep each
module readable; `messages.py` re-exports them, so every code is `msg.<Class>` alike and
importing `fitlang.messages` registers them all."""

from __future__ import annotations

from fitlang.diagnostics import Message, Severity

# ---- E09xx / W09xx: time (issue 19: a horizon, windows, prices per step) ----------------


class InvalidDateTime(Message):
    code = "E0901"
    summary = "not an ISO 8601 date-time with a UTC offset"
    template = "`{text}` is not an ISO 8601 date-time with its UTC offset{detail}"
    fix = ("Write the date-time as `\"2026-12-01T00:00Z\"` or `\"2026-12-01T01:00+01:00\"`: a "
           "time without its offset means different instants on different machines.")
    text: str
    detail: str


class TimingWithoutHorizon(Message):
    code = "E0902"
    summary = "timing without a horizon"
    template = "`{attribute}` needs a horizon: the policy states no `horizon`, `step` and `start`"
    fix = "Add `horizon = 7d`, `step = 1h` and `start = \"...\"` to the `policy` block."
    attribute: str


class HorizonIncomplete(Message):
    code = "E0903"
    summary = "a horizon needs `horizon`, `step` and `start`"
    template = "the policy's horizon needs {missing}"
    fix = "State all three in the `policy` block: `horizon = 7d`, `step = 1h`, `start = \"...\"`."
    missing: str


class HorizonNotWholeSteps(Message):
    code = "E0904"
    summary = "horizon not a whole number of steps"
    template = "the horizon of {horizon} is not a whole number of steps of {step}"
    fix = "Make the horizon a multiple of the step (`horizon = 7d`, `step = 1h`)."
    horizon: str
    step: str


class WindowImpossible(Message):
    code = "E0905"
    summary = "a job's time window cannot hold it"
    template = "`{workload}`: {detail}"
    fix = ("Move `earliest` earlier or `deadline` later, shorten `duration`, or lengthen the "
           "policy's horizon: the job must fit between its earliest start and its deadline, "
           "within the horizon.")
    workload: str
    detail: str


class NotSupportedWithHorizon(Message):
    code = "E0906"
    summary = "not supported with a horizon yet"
    template = "{detail} is not supported with a horizon yet"
    fix = ("Remove the rule or the horizon: placing work in time handles capacity, power caps, "
           "the budget and node rules (labels, zones, require) so far.")
    detail: str


class TimeValueInvalid(Message):
    code = "E0907"
    summary = "not a duration or a date-time"
    template = "`{attribute}` must be a duration after the policy's start (`6h`) or a date-time, not {found}"
    fix = "Write a duration with its unit (`30min`, `6h`, `2d`) or a date-time (\"2026-12-02T06:00Z\")."
    attribute: str
    found: str


class PriceTableInvalid(Message):
    code = "E0908"
    summary = "malformed price table"
    template = "{file}:{line}: {detail}"
    fix = ("Each row of a price file is `timestamp,price`: an ISO 8601 date-time with its UTC "
           "offset and a price (USD/kWh for electricity, USD/h per node for `price_file`, "
           "gCO2e/kWh for `carbon_file`), in time order; a first row `timestamp,price` is a header.")
    file: str
    line: int
    detail: str


class ElectricityPriceMissing(Message):
    code = "E0909"
    summary = "an electricity block states no price"
    template = "electricity `{name}` states no price: give `price`, `hourly` or `prices`"
    fix = "Add `price = 0.12 USD/kWh`, a list per step `hourly = [...]`, or a file `prices = \"grid.csv\"`."
    name: str


class PricesWithoutHorizon(Message):
    code = "E0910"
    summary = "prices per step without a horizon"
    template = "electricity `{name}` gives a price per step, but the policy states no horizon"
    fix = "Add `horizon`, `step` and `start` to the `policy` block, or give one `price`."
    name: str


# ---- E0920-E0949 / W0920-W0939: time, part two (issue 19: carbon, windows, recurring jobs) ----


class CarbonWithoutHorizon(Message):
    code = "E0920"
    summary = "carbon needs a horizon"
    template = "{what} needs a horizon: the policy states no `horizon`, `step` and `start`"
    fix = ("Add `horizon = 7d`, `step = 1h` and `start = \"...\"` to the `policy` block: carbon "
           "is counted step by step over the horizon.")
    what: str


class CarbonNotStated(Message):
    code = "W0920"
    summary = "carbon asked for, but no grid states it"
    template = ("{what}, but no `electricity` block states a carbon intensity: every schedule "
                "emits 0 kgCO2e")
    severity = Severity.WARNING
    fix = ("State the grid's carbon intensity where the nodes draw power: `carbon = 350 "
           "gCO2e/kWh` (or `carbon_hourly`, `carbon_file`).")
    what: str


class PowerCapMissing(Message):
    code = "E0921"
    summary = "a power cap states no cap"
    template = "power_cap `{name}` states no cap: give `cap` or `hourly`"
    fix = "Add `cap = 25kW`, or a cap per time step `hourly = [25kW, 25kW, 40kW]`."
    name: str


class WindowInvalid(Message):
    code = "E0922"
    summary = "not a time window"
    template = "`{text}` is not a window: {detail}"
    fix = ("Write a window as an ISO 8601 interval of two date-times with their UTC offsets, "
           "the start before the end: \"2026-12-02T00:00Z/2026-12-02T06:00Z\".")
    text: str
    detail: str


class WindowOutsideHorizon(Message):
    code = "E0923"
    summary = "a time window outside the horizon"
    template = "the window `{text}` of `{name}` {detail}"
    fix = "Move the window into the policy's horizon, or remove it: it changes nothing."
    text: str
    name: str
    detail: str


class RecurrenceInvalid(Message):
    code = "E0924"
    summary = "not a period or a cron expression"
    template = "`every`: {detail}"
    fix = ("Write a period with its unit (`every = 24h`) or a five-field cron expression in UTC "
           "(`every = \"0 2 * * 1-5\"`: 02:00 on weekdays).")
    detail: str


class RecurrenceImpossible(Message):
    code = "E0925"
    summary = "a recurring job whose runs cannot be placed"
    template = "`{workload}`: {detail}"
    fix = ("A recurring job needs a `duration`; each run must fit between its release and "
           "`within` (or the next release), and at least one run must lie in the horizon.")
    workload: str
    detail: str


class PreemptionInvalid(Message):
    code = "E0926"
    summary = "a preemptible job that cannot be split so"
    template = "`{workload}`: {detail}"
    fix = ("`preemptible = true` lets a job's `duration` run in segments of at least `min_segment` "
           "(at most the duration); a recurring job runs each run unbroken.")
    workload: str
    detail: str


# ---- E0927-E0929 / W0927-W0928: offer prices per step (issue 19: spot) --------------------


class StepPriceStatedTwice(Message):
    code = "E0927"
    summary = "a price stated twice"
    template = "{block} states its price twice: `{first}` and `{second}`"
    fix = ("Give one: `price` for one price over the horizon, `price_hourly = [...]` for a price "
           "per step, or `price_file = \"...\"` for a file of `timestamp,price` rows.")
    block: str
    first: str
    second: str


class StepPricesWithoutHorizon(Message):
    code = "E0928"
    summary = "a price per step without a horizon"
    template = "{block} gives a price per step (`{attribute}`), but the policy states no horizon"
    fix = ("Add `horizon`, `step` and `start` to the `policy` block, or give one `price` (a pool) "
           "or the offer's own price (a `buy`).")
    block: str
    attribute: str


class StepPricesOfSeveralOffers(Message):
    code = "E0929"
    summary = "a price per step on a `buy` of several offers"
    template = ("{block} gives a price per step (`{attribute}`), but may buy {count} offers "
                "({first}): the prices are one offer's market")
    fix = ("Name the one offer they price: `offers = [aws_p5_48xlarge]`; give each other offer "
           "its own `buy` block with its own prices.")
    block: str
    attribute: str
    count: int
    first: str


class StepPricesOnDemand(Message):
    code = "W0927"
    summary = "a price per step on capacity bought on demand"
    template = ("{block} gives a price per step, but buys on demand (`spot` is not true): "
                "providers bill on-demand capacity at one list price")
    severity = Severity.WARNING
    fix = ("If the prices are the spot market's, add `spot = true` (the Terraform target then "
           "buys spot capacity); else give the offer's one price.")
    block: str


class StepPricesStartLate(Message):
    code = "W0928"
    summary = "a price file that starts after the horizon"
    template = ("{block}: `{file}` starts at {first}, {steps} steps after the horizon's start: "
                "those steps take its first price")
    severity = Severity.WARNING
    fix = "Add a row at or before the policy's `start`, or start the horizon later."
    block: str
    file: str
    first: str
    steps: int


class DailyListNotAtMidnight(Message):
    code = "W0914"
    summary = "a day's list per step starts at the horizon's start, not at midnight"
    template = ("`{block}`'s `{attribute}` has {count} values, whole days of {step} steps, and the "
                "horizon starts at {start}: its first value is the step from {start}, not midnight")
    severity = Severity.WARNING
    fix = ("A list per step is read from the horizon's `start` and repeated: rotate it so that its "
           "first value is the one for the start's hour, or start the horizon at midnight.")
    block: str
    attribute: str
    count: int
    step: str
    start: str


class RunningJobLate(Message):
    code = "W0930"
    summary = "a running job of the policy ends after its deadline"
    template = ("{file}: `{workload}`'s job {job} runs until {ends}, after its deadline ({deadline}): "
                "it runs on, late")
    severity = Severity.WARNING
    fix = ("Nothing placed now can meet the deadline for it. Move the workload's `deadline` later, "
           "or cancel the job (`scancel`) and solve again to run it anew.")
    file: str
    workload: str
    job: str
    ends: str
    deadline: str


class RunningJobsKept(Message):
    code = "W0931"
    summary = "running jobs of the policy run on: not placed again"
    template = ("{file}: kept where they run, not placed again: {count} running job{plural} of the "
                "policy: {detail}")
    severity = Severity.WARNING
    fix = ("Nothing to do: a job runs once. Its replicas are taken off its workload's `replicas` "
           "(the rest are placed), and it holds its room on its nodes for the whole horizon; one "
           "that ended by the horizon's start is done.")
    file: str
    count: int
    plural: str
    detail: str


class NoScheduleInWindow(Message):
    code = "E0950"
    summary = "no schedule: a window of the horizon lacks the capacity its jobs need"
    template = "no schedule: {detail}"
    fix = ("Apply a repair it lists (each checked by solving): a later deadline, or nodes added "
           "for the hours named; or shorten the jobs, or move work out of the window.")
    detail: str


class NoScheduleWithoutWindow(Message):
    code = "E0951"
    summary = "no schedule, though no window alone lacks capacity"
    template = "{detail}"
    fix = ("Raise a power cap or the budget for the busy hours, widen the jobs' windows, or "
           "make the replicas smaller so that they pack onto fewer nodes.")
    detail: str


class JobsResumedAtTheirStart(Message):
    code = "W0950"
    summary = "Kubernetes Jobs wait, suspended, for someone to resume them at their start"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Run the written `start-jobs.sh` at every step (cron, a CI schedule), which resumes "
           "each Job once its start (annotation `fitlang.dev/start`) has come, or resume them "
           "yourself with `kubectl patch job NAME --type=merge -p '{\"spec\":{\"suspend\":false}}'`.")
    target: str
    detail: str


class CapacityNotScheduled(Message):
    code = "W0951"
    summary = "bought capacity runs the whole horizon: the provider has no scheduled scaling"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Scale the group by the windows `fitc solve` shows by other means, or accept paying "
           "for the nodes over the whole horizon.")
    target: str
    detail: str


class SegmentsNeedCheckpoint(Message):
    code = "W0952"
    summary = "a preemptible job's segments are stopped at their planned end: it must checkpoint"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Make the job save its progress when it is stopped (SIGTERM) and resume from it when "
           "it starts again; or drop `preemptible` so that it runs unbroken.")
    target: str
    detail: str


class ReplicasStartApart(Message):
    code = "W0955"
    summary = "a job whose replicas start at different times is written as one Slurm job per start"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Nothing, if the replicas are independent (each task its own work). If they must run "
           "together as one job (one MPI world), give them room to start at once: more nodes, or "
           "a later deadline.")
    target: str
    detail: str


class RunsNotOneCronJob(Message):
    code = "W0953"
    summary = "recurring runs written as suspended Jobs: no CronJob runs the solved schedule"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Run the written `start-jobs.sh` at every step, which resumes each run's Job at its "
           "solved start; a CronJob starts every run at one offset from its release.")
    target: str
    detail: str


class CronJobPastHorizon(Message):
    code = "W0954"
    summary = "a CronJob keeps starting runs after the horizon the solver planned"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Compile again (with a horizon that reaches further) before the horizon ends, or "
           "suspend the CronJob (`spec.suspend: true`) once its planned runs are done.")
    target: str
    detail: str


# Out of use since session 53: runs one job array cannot run as solved (placed in different
# shapes, a run's replicas started apart, a heterogeneous run) are written as a job per run
# (W0956) instead of refused. The code stays registered so that it is never given another meaning.
class ArrayNotExact(Message):
    code = "E0952"
    summary = "one job array cannot run a recurring job's runs as solved (no longer reported)"
    template = "{target}: {detail}"
    fix = ("Give the workload `replicas = 1` (each run one task), or whole-node replicas, so that "
           "every run is placed in one shape; each run's replicas then start together.")
    target: str
    detail: str


class RunsWrittenApart(Message):
    code = "W0956"
    summary = "a recurring job's runs are written as a Slurm job each, not as one job array"
    template = "{target}: {detail}"
    severity = Severity.WARNING
    fix = ("Nothing, if each run is independent work (the scripts read no `SLURM_ARRAY_TASK_ID`: "
           "a run's script states its run in its header). For one array, give the workload "
           "`replicas = 1` or whole-node replicas, so that every run is placed in one shape.")
    target: str
    detail: str


class TimingNotEnforced(Message):
    code = "W0901"
    summary = "timing the target does not enforce"
    template = "{target}: timing not enforced by this target yet: {detail}"
    severity = Severity.WARNING
    fix = ("Start the work at the times `fitc solve` shows by other means (a scheduler, a "
           "pipeline), or use the Slurm target, which writes `--begin` and `--deadline`.")
    target: str
    detail: str
