def test_tensor_round_trip(r):
    assert r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2.5) == b"OK"
    assert r.execute_command("AI.TENSORGET", "t", "META", "VALUES") == [
        b"dtype", b"FLOAT", b"shape", [2], b"values", [b"1", b"2.5"]]
