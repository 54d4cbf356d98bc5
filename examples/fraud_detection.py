"""Fraud detection with the redisai-py client: a TorchScript script scales each
transaction by reference statistics, an ONNX model scores it; one AI.DAGEXECUTE
per transaction (LOAD the statistics, PERSIST the score), with a progress bar
and the throughput at the end."""
import os
import time

import numpy as np
import redisai
import torch
from tqdm import tqdm

from models import torch_onnx

FEATURES = 30
TRANSACTIONS = 3000

SCRIPT = """
def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    transaction, stats = tensors[0], tensors[1]
    return (transaction - stats[0]) / stats[1]
"""


def fraud_model():
    """A small MLP (random weights: a stand-in for a trained one) as ONNX:
    scaled transactions [N, FEATURES] -> fraud probability [N, 1]."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(FEATURES, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 1), torch.nn.Sigmoid())
    return torch_onnx(net, torch.zeros(1, FEATURES))


con = redisai.Client(port=int(os.environ.get("PORT", 6379)))
rng = np.random.default_rng(0)
transactions = rng.normal(50, 20, (TRANSACTIONS, 1, FEATURES)).astype(np.float32)
stats = np.stack([transactions.mean(axis=(0, 1)), transactions.std(axis=(0, 1))])
con.tensorset("fraud:stats", stats)
con.scriptstore("fraud:scale", "CPU", SCRIPT, entry_points=["scale"])
con.modelstore("fraud:model", "ONNX", "CPU", fraud_model())

start = time.perf_counter()
for i, transaction in enumerate(tqdm(transactions, unit="tx")):
    dag = con.dag(load=["fraud:stats"], persist=[f"fraud:score:{i}"])
    dag.tensorset("tx", transaction)
    dag.scriptexecute("fraud:scale", "scale", inputs=["tx", "fraud:stats"], outputs=["scaled"])
    dag.modelexecute("fraud:model", inputs=["scaled"], outputs=[f"fraud:score:{i}"])
    dag.tensorget(f"fraud:score:{i}")
    score = dag.execute()[-1]
print(f"{TRANSACTIONS / (time.perf_counter() - start):.0f} transactions/s, one DAG each")

# The client's tensorget(as_numpy_mutable=True) calls np.fromstring, which numpy 2
# removed; plain redis-py (the client is a redis-py connection) gives a writable array.
_, dtype, _, shape, _, blob = con.execute_command("AI.TENSORGET", f"fraud:score:{i}",
                                                  "META", "BLOB")
persisted = np.frombuffer(blob, dtype=np.float32).reshape(shape).copy()
assert dtype == b"FLOAT" and np.array_equal(persisted, score), (persisted, score)
print(f"last transaction: fraud probability {persisted[0, 0]:.3f}")
