"""Quick start with the redisai-py client: the same tensor, model and run as
quickstart.sh, then the whole of it in one AI.DAGEXECUTE."""
import os

import numpy as np
import redisai

from models import linear_onnx

con = redisai.Client(port=int(os.environ.get("PORT", 6379)))
con.tensorset("x", np.array([[1, 1]], dtype=np.float32))
con.modelstore("linear", "ONNX", "CPU", linear_onnx())
con.modelexecute("linear", inputs=["x"], outputs=["y"])
y = con.tensorget("y")
print(y)

dag = con.dag(persist=["y2"])
dag.tensorset("x2", np.array([[2, 3]], dtype=np.float32))
dag.modelexecute("linear", inputs=["x2"], outputs=["y2"])
dag.tensorget("y2")
result = dag.execute()
print(result)
assert (y == [[4, 6]]).all() and (result[-1] == [[11, 16]]).all()
