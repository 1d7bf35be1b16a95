"""Accelerator options (`gpu { option MODEL { ... } }`): checking, solving to hand-computed
optima (every placement verified), explain, verify and every target."""

from __future__ import annotations

import json
from fractions import Fraction

from test_target_kubernetes import check_objects, documents

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.solve.explain import Part, explain
from fitlang.solve.placement import solve
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify
from fitlang.targets.base import dns_name

from compiling import render
from solving import on_pools, problem_from, solved

POOLS = '''import "std/accelerators"

pool h100 {
  count = H100_NODES
  cpu = 64
  memory = 512GiB
  gpu {
    model = H100
    count = 2
  }
  price = 10 USD/h
}

pool trn {
  count = 4
  cpu = 64
  memory = 512GiB
  gpu {
    model = TRAINIUM2
    count = 4
  }
  price = 8 USD/h
}
'''

# 1000 of throughput: an H100 replica (1 device) delivers 250, a Trainium2 replica (2 devices)
# 150. A node of either pool holds 2 replicas: 500 for 10 USD/h, or 300 for 8 USD/h.
CHAT = '''
workload chat {
  cpu = 8
  memory = 64GiB
  throughput = 1000
  GANG
  gpu {
    option H100 {
      count = 1
      throughput = 250
    }
    option TRAINIUM2 {
      count = 2
      throughput = 150
    }
  }
}
'''


def chat_policy(tmp_path, h100_nodes: int, gang: bool = False):
    text = POOLS.replace("H100_NODES", str(h100_nodes)) + CHAT.replace(
        "GANG", "gang = true" if gang else "")
    return problem_from(tmp_path, text)


def placed_json(problem, placement) -> dict:
    return json.loads(as_json(problem, placement, []))


def test_throughput_options_mix_to_the_hand_computed_optimum(tmp_path):
    # One H100 node: it gives 500 for 10 USD/h. The other 500 need 4 Trainium2 replicas (3 give
    # 450), so 2 trn nodes for 16: 26 USD/h. Trainium2 alone: 7 replicas, 4 nodes, 32 USD/h.
    # One H100 replica beside trn needs 750 more: 5 replicas, 3 nodes: 34 USD/h.
    problem = chat_policy(tmp_path, h100_nodes=1)
    placement = solved(problem)
    assert placement.status == "optimal" and placement.value == 26
    assert on_pools(placement, problem) == {"chat[H100]": {"h100": 2}, "chat[TRAINIUM2]": {"trn": 4}}


def test_with_enough_h100_nodes_one_option_alone_is_cheapest(tmp_path):
    # Two H100 nodes deliver 1000 for 20 USD/h; any Trainium2 node added costs 8 more.
    problem = chat_policy(tmp_path, h100_nodes=2)
    placement = solved(problem)
    assert placement.value == 20
    assert on_pools(placement, problem) == {"chat[H100]": {"h100": 4}}


def test_a_gang_runs_on_one_option_only(tmp_path):
    # Mixing would cost 26 USD/h; whole on H100 needs 4 replicas = 2 nodes, and only 1 exists;
    # whole on Trainium2: 7 replicas (7 x 150 = 1050), 4 nodes, 32 USD/h.
    problem = chat_policy(tmp_path, h100_nodes=1, gang=True)
    placement = solved(problem)
    assert placement.value == 32
    assert on_pools(placement, problem) == {"chat[TRAINIUM2]": {"trn": 7}}


def test_replica_options_choose_the_cheaper_whole_option(tmp_path):
    # 4 x H100 (2 nodes, 20 USD/h) or 8 x Trainium2 at one device each (2 nodes, 16 USD/h);
    # the mix 2 H100 + 4 Trainium2 (half of each) takes a node of each: 18 USD/h.
    problem = problem_from(tmp_path, POOLS.replace("H100_NODES", "2") + '''
workload chat {
  cpu = 8
  memory = 64GiB
  gpu {
    count = 1
    option H100 {
      replicas = 4
    }
    option TRAINIUM2 {
      replicas = 8
    }
  }
}
''')
    placement = solved(problem)
    assert placement.value == 16
    assert on_pools(placement, problem) == {"chat[TRAINIUM2]": {"trn": 8}}


def test_options_take_their_own_cpu_and_memory(tmp_path):
    # Trainium2 replicas need 40 CPU here: one per 64-CPU node, 150 each, so 7 nodes would be
    # needed for 1000 and only 4 exist; H100 replicas (8 CPU) on 2 nodes: 20 USD/h.
    text = POOLS.replace("H100_NODES", "2") + CHAT.replace("GANG", "").replace(
        "throughput = 150", "throughput = 150\n      cpu = 40")
    problem = problem_from(tmp_path, text)
    trn = problem.demand("chat[TRAINIUM2]")
    assert trn.requests["cpu"] == 40000 and trn.requests["gpu"] == 2 and trn.replicas == 7
    placement = solved(problem)
    assert placement.value == 20 and on_pools(placement, problem) == {"chat[H100]": {"h100": 4}}


def test_options_come_from_a_profile_and_the_workload_may_replace_them(tmp_path):
    result_path = tmp_path / "p.fit"
    result_path.write_text('''import "std/accelerators"

profile serving {
  cpu = 4
  memory = 16GiB
  gpu {
    count = 1
    option H100 {
      replicas = 2
    }
    option L4 {
      replicas = 6
    }
  }
}

workload a {
  use serving
}

workload b {
  use serving
  gpu {
    option L40S {
      replicas = 3
    }
  }
}
''')
    result = check_file(result_path, Workspace())
    assert result.diagnostics == []
    options = {name: [(o.model.name, o.count, 1 / o.throughput) for o in w.options]
               for name, w in result.program.workloads.items()}
    assert options == {"a": [("H100", 1, 2), ("L4", 1, 6)], "b": [("L40S", 1, 3)]}


def test_rules_naming_an_option_workload(tmp_path):
    # anti_affinity to an option workload keeps away from each of its options; affinity to
    # one keeps the workload's name: near a replica of any option (`rules/option_affinity.py`)
    rules = POOLS.replace("H100_NODES", "1") + CHAT.replace("GANG", "") + NOISY
    problem = problem_from(tmp_path, rules)
    assert [r.target for r in problem.demand("noisy").affinities] == ["chat[H100]",
                                                                       "chat[TRAINIUM2]"]
    path = tmp_path / "near.fit"
    path.write_text(rules.replace("anti_affinity chat", "affinity chat"))
    assert [d.code for d in check_file(path, Workspace()).diagnostics] == []
    near = problem_from(tmp_path, rules.replace("anti_affinity chat", "affinity chat"), "near2.fit")
    assert [r.target for r in near.demand("noisy").affinities] == ["chat"]


NOISY = '''
workload noisy {
  replicas = 1
  cpu = 1
  memory = 1GiB
  tolerate = ["gpu"]
  anti_affinity chat on node
}
'''


# the H100 pool in a US region, the Trainium2 pool in an EU one; users in berlin reach the EU
# region in 10 ms, the US one in 90 ms
SITES = '''
region iad {
  code = "us-east-1"
  jurisdiction = US
}
region fra {
  code = "eu-central-1"
  jurisdiction = EU
}
location berlin {
  country = "DE"
}
latency {
  from = berlin
  to = {iad: 90ms, fra: 10ms}
}
'''


def sited_chat(tmp_path, rule: str):
    pools = POOLS.replace("H100_NODES", "2").replace(
        "price = 10 USD/h", 'price = 10 USD/h\n  region = "us-east-1"').replace(
        "price = 8 USD/h", 'price = 8 USD/h\n  region = "eu-central-1"')
    return problem_from(tmp_path, pools + SITES + CHAT.replace("GANG", rule))


def test_every_option_keeps_the_workloads_residency(tmp_path):
    # Without the rule the two H100 nodes deliver 1000 for 20 USD/h. EU data may not go to the
    # US H100 pool: Trainium2 alone, 7 replicas on 4 nodes, 32 USD/h.
    assert solved(sited_chat(tmp_path, "")).value == 20
    problem = sited_chat(tmp_path, "residency = [EU]")
    assert problem.demand("chat[H100]").excluded["h100"].rule == "residency = [EU]"
    placement = solved(problem)
    assert placement.value == 32
    assert on_pools(placement, problem) == {"chat[TRAINIUM2]": {"trn": 7}}


def test_a_latency_rule_counts_the_replicas_of_every_option(tmp_path):
    # One replica within 20 ms of berlin: only Trainium2 (EU) is. All-H100 (20 USD/h) is out;
    # one H100 node (500) beside 2 trn nodes (4 x 150) = 26 USD/h is the cheapest mix with a trn
    # replica (2 H100 nodes + 1 trn node: 28; Trainium2 alone: 32). Counted per option instead,
    # the H100 replicas would need one of their own in reach and the answer would be 32.
    latency = "latency {\n    users = [berlin]\n    within = 20ms\n  }"
    problem = sited_chat(tmp_path, latency)
    placement = solved(problem)
    assert placement.value == 26
    assert on_pools(placement, problem) == {"chat[H100]": {"h100": 2}, "chat[TRAINIUM2]": {"trn": 4}}
    assert placed_json(problem, placement)["latency"] == [
        {"workload": "chat", "location": "berlin", "limit_ms": 20.0, "worst_ms": 10.0,
         "replicas_within": 4, "replicas_needed": 1}]
    # 5 ms reaches no region: explain names the workload's rule and the limit that works
    explanation = explain(sited_chat(tmp_path, latency.replace("20ms", "5ms")))
    assert not explanation.feasible
    assert any(r.text.startswith("`chat` needs 1 replica within 5 ms of users in berlin (no region")
               for r in explanation.reasons)
    assert ("latency", "5ms", "10ms") in [(r.part.kind, r.before, r.after) for r in explanation.repairs]


def test_no_option_can_be_met_is_explained_by_option(tmp_path):
    # Trainium2 replicas want 5 devices; trn nodes have 4: that option has no node at all,
    # and the single H100 node holds 2 of the 4 replicas H100 would need.
    text = POOLS.replace("H100_NODES", "1") + CHAT.replace("GANG", "").replace(
        "count = 2\n      throughput = 150", "count = 5\n      throughput = 150")
    problem = problem_from(tmp_path, text)
    placement = solve(problem)
    assert [u.workload for u in placement.unplaced] == ["chat[H100]"] * 4
    assert "none of its options" in placement.unplaced[0].reason
    explanation = explain(problem)
    texts = [r.text for r in explanation.reasons]
    assert any(t.startswith("workload `chat` needs throughput 1000 from its options (H100 250 "
                            "per replica") and "TRAINIUM2 150 per replica" in t for t in texts)
    # TRAINIUM2 fits no node at all: a fact, not a rule to name
    assert [r.part for r in explanation.reasons] == [Part("capacity", "h100"), Part("throughput", "chat")]
    assert ("capacity", "1", "2") in [(r.part.kind, r.before, r.after) for r in explanation.repairs]


def test_an_unmet_option_group_places_nothing_when_unplaced_work_is_allowed(tmp_path):
    # `batch` (priority 10) takes the only H100 node; `chat` cannot reach 1000 without it
    # (4 trn nodes give 600 with 4 devices per replica), so none of it runs.
    text = POOLS.replace("H100_NODES", "1") + CHAT.replace("GANG", "").replace(
        "count = 2\n      throughput = 150", "count = 4\n      throughput = 150") + '''
policy {
  allow_unplaced = true
}

workload batch {
  replicas = 2
  priority = 10
  cpu = 8
  memory = 64GiB
  gpu {
    count = 1
    model = H100
  }
}
'''
    problem = problem_from(tmp_path, text)
    placement = solved(problem)
    assert on_pools(placement, problem) == {"batch": {"h100": 2}}
    document = placed_json(problem, placement)
    assert {(u["workload"], u.get("option")) for u in document["unplaced"]} == {("chat", "H100")}


def test_json_names_the_workload_and_its_option(tmp_path):
    problem = chat_policy(tmp_path, h100_nodes=1)
    document = placed_json(problem, solved(problem))
    (entry,) = document["workloads"]
    assert entry["name"] == "chat" and entry["throughput"] == 1000
    assert [(o["name"], o["replicas"], o["throughput"], o["requests"]["gpu"])
            for o in entry["options"]] == [("H100", 4, 250, 1), ("TRAINIUM2", 7, 150, 2)]
    pairs = sorted({(a["workload"], a["option"]) for a in document["assignments"]})
    assert pairs == [("chat", "H100"), ("chat", "TRAINIUM2")]


def test_verify_rejects_a_placement_short_of_throughput(tmp_path):
    problem = chat_policy(tmp_path, h100_nodes=1)
    document = placed_json(problem, solved(problem))
    dropped = next(a for a in document["assignments"] if a["option"] == "TRAINIUM2")
    document["assignments"].remove(dropped)  # 500 + 3 x 150 = 950 of 1000
    violations, problems = verify(problem, document)
    assert problems == []
    assert [v.message for v in violations] == [
        "`chat` delivers 950 of the 1000 it needs (H100 x2 at 250 each, TRAINIUM2 x3 at 150 each)"]


def test_verify_rejects_an_unknown_option_and_a_gang_on_two_options(tmp_path):
    problem = chat_policy(tmp_path, h100_nodes=2, gang=True)
    document = placed_json(problem, solved(problem))
    document["assignments"].append({"workload": "chat", "option": "TRAINIUM2", "replica": 0,
                                    "node": "trn-0"})
    document["assignments"].append({"workload": "chat", "option": "L4", "replica": 0,
                                    "node": "trn-0"})
    messages = [v.message for v in verify(problem, document)[0]]
    assert "gang `chat` runs on options H100, TRAINIUM2: a gang uses one option" in messages
    assert "placement names unknown workload `chat` option `L4`" in messages


def test_solving_options_is_deterministic(tmp_path):
    problem = chat_policy(tmp_path, h100_nodes=1)
    first = as_json(problem, solve(problem), [])
    again = chat_policy(tmp_path, h100_nodes=1)
    assert as_json(again, solve(again), []) == first


# ---- targets ------------------------------------------------------------------------------

TARGET_POLICY = '''import "std/accelerators"

accelerator _X1 {
  vendor = nvidia
  memory = 80GB
}

pool h100 {
  count = 1
  cpu = 64
  memory = 512GiB
  gpu {
    model = H100
    count = 2
  }
  labels = {"site": "dc1"}
  price = 10 USD/h
}

pool trn {
  count = 1
  cpu = 64
  memory = 512GiB
  gpu {
    model = TRAINIUM2
    count = 4
  }
  price = 8 USD/h
}

pool tpu {
  count = 1
  cpu = 64
  memory = 512GiB
  gpu {
    model = TPU_V5E
    count = 4
  }
  price = 9 USD/h
}

pool odd {
  count = 1
  cpu = 64
  memory = 512GiB
  gpu {
    model = _X1
    count = 1
  }
  price = 1 USD/h
}

workload chat {
  cpu = 8
  memory = 64GiB
  throughput = 10
  image = "vllm/vllm-openai:v0.6"
  command = ["serve", "--port", "8000"]
  gpu {
    option H100 {
      count = 2
      throughput = 3
    }
    option TRAINIUM2 {
      count = 4
      throughput = 3
    }
    option TPU_V5E {
      count = 4
      throughput = 3
    }
    option _X1 {
      count = 1
      throughput = 1
    }
  }
}
'''


def test_kubernetes_writes_one_object_per_option_with_its_device(tmp_path):
    # 10 of throughput: every pool's one replica is needed (3 + 3 + 3 + 1).
    path = tmp_path / "p.fit"
    path.write_text(TARGET_POLICY)
    _, files = render(path, "kubernetes")
    check_objects(files)
    assert sorted(files) == ["chat.yaml", "kustomization.yaml", "label-nodes.sh"]
    by_option = {}
    for document in documents(files):
        labels = document["spec"]["template"]["metadata"]["labels"]
        requests = document["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
        by_option[labels["fitlang.dev/option"]] = (document["spec"]["replicas"],
                                                  {k: v for k, v in requests.items()
                                                   if k not in ("cpu", "memory")})
        assert document["spec"]["selector"]["matchLabels"] == labels
    assert by_option == {"H100": (1, {"nvidia.com/gpu": "2"}),
                         "TRAINIUM2": (1, {"aws.amazon.com/neuron": "4"}),
                         "TPU_V5E": (1, {"google.com/tpu": "4"}),
                         # `_X1` is no valid label value: written as a DNS name with a hash
                         dns_name("_X1"): (1, {"nvidia.com/gpu": "1"})}
    assert dns_name("_X1").startswith("x1-")


def test_slurm_writes_one_script_per_option_with_its_gres(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text(TARGET_POLICY)
    _, files = render(path, "slurm")
    scripts = {name: text for name, text in files.items() if name.endswith(".sbatch")}
    assert len(scripts) == 4 and sorted(set(files) - set(scripts)) == ["fitc-gres.conf",
                                                                       "fitc-nodes.conf"]
    gres = sorted(line for text in scripts.values() for line in text.splitlines()
                  if line.startswith(("#SBATCH --gres=", "#SBATCH --gpus-per-task=")))
    # GPUs per task; Trainium as Neuron devices and TPU chips per node (slurm.py: Gres)
    assert gres == ["#SBATCH --gpus-per-task=_x1:1", "#SBATCH --gpus-per-task=h100:2",
                    "#SBATCH --gres=neuron:4", "#SBATCH --gres=tpu:4"]
    assert all(name.startswith("chat-") and name.endswith(".sbatch") for name in scripts)
    headers = sorted(text.splitlines()[1] for text in scripts.values())
    assert headers == [f"# Generated by fitc from p.fit: workload chat, option {option}."
                       for option in ("H100", "TPU_V5E", "TRAINIUM2", "_X1")]


def test_terraform_buys_the_cheaper_option(tmp_path):
    # 1600 of throughput: 2 x p5.48xlarge (8 H100, 1000 each) at 98.32 USD/h each, or
    # 2 x trn2.48xlarge (16 Trainium2, 800 each) at 46.98 each: Trainium2, 93.96 USD/h.
    from option_domains import train_policy

    path = tmp_path / "p.fit"
    path.write_text(train_policy())
    context, files = render(path, "terraform")
    assert context.placement.value == Fraction("93.96")
    assert '"trn2.48xlarge"' in files["aws.tf"] and "p5.48xlarge" not in files["aws.tf"]


def test_hover_on_an_option_workload_lists_its_options(tmp_path):
    from fitlang.lsp.hover import _workload

    path = tmp_path / "p.fit"
    path.write_text(POOLS.replace("H100_NODES", "1") + CHAT.replace("GANG", ""))
    workload = check_file(path, Workspace()).program.workloads["chat"]
    no_analysis = type("Analysis", (), {"built": None})()
    assert _workload(no_analysis, workload) == (
        "service; any of its accelerator options:\n"
        "- 4 x H100 replicas of 1 device\n- 7 x TRAINIUM2 replicas of 2 devices")
