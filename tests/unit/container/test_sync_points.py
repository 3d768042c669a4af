"""The two container-sync points (sans-IO): which rows each replica sends, and where
the points land, with replicas up, down, failing and killed."""

from oiofs.container.sync_points import SyncProgress, run_sync_points


class FakeDb:
    """A replica's rows (ROWID -> name) and its two saved points."""

    def __init__(self, count: int):
        self.rows = [{"ROWID": i, "name": f"o{i}"} for i in range(1, count + 1)]
        self.point1 = self.point2 = -1

    def items_since(self, start: int, count: int) -> list[dict]:
        return [r for r in self.rows if r["ROWID"] > start][:count]

    def save(self, point1, point2) -> None:
        if point1 is not None:
            self.point1 = point1
        if point2 is not None:
            self.point2 = point2


class FakeRemote:
    """The remote container: which rows it has, and every request it got."""

    def __init__(self):
        self.have: set[str] = set()
        self.puts: list[str] = []
        self.heads: list[str] = []
        self.down = False
        self.refuse: set[str] = set()

    def send(self, row: dict, confirm: bool) -> bool:
        if self.down:
            return False
        if confirm:
            self.heads.append(row["name"])
            if row["name"] in self.have:
                return True
        if row["name"] in self.refuse:
            return False
        self.puts.append(row["name"])
        self.have.add(row["name"])
        return True


def owner(row: dict, replicas: int = 3) -> int:
    return row["ROWID"] % replicas


def sync_pass(db: FakeDb, remote: FakeRemote, index: int, replicas: int = 3,
              budget: int | None = None) -> SyncProgress:
    calls = {"n": 0}

    def out_of_time() -> bool:
        calls["n"] += 1
        return budget is not None and calls["n"] > budget

    return run_sync_points(db.point1, db.point2, db.items_since,
                           lambda row: owner(row, replicas) == index, remote.send, db.save,
                           out_of_time)


def test_the_seed_example_three_replicas_six_then_twelve_rows():
    remote = FakeRemote()
    dbs = [FakeDb(6) for _ in range(3)]
    for index, db in enumerate(dbs):
        progress = sync_pass(db, remote, index)
        assert (db.point1, db.point2) == (6, -1)
        assert progress.sent == 2  # a third of the six rows
    assert sorted(remote.puts) == [f"o{i}" for i in range(1, 7)]  # each row once
    for db in dbs:
        db.rows += [{"ROWID": i, "name": f"o{i}"} for i in range(7, 13)]
    for index, db in enumerate(dbs):
        sync_pass(db, remote, index)
        assert (db.point1, db.point2) == (12, 6)
    assert sorted(remote.puts, key=lambda n: int(n[1:])) == [f"o{i}" for i in range(1, 13)]
    # rows between the points were only checked (HEAD), never sent again
    assert len(remote.heads) == 3 * 4  # each replica checks the 4 rows of the 2 others


def test_a_stopped_replica_rows_are_sent_once_by_the_others():
    remote = FakeRemote()
    dbs = [FakeDb(30) for _ in range(3)]
    for index in (0, 1):  # replica 2 is down
        sync_pass(dbs[index], remote, index)
    assert len(remote.puts) == 20
    for index in (0, 1):  # run one after the other: the second finds them sent
        sync_pass(dbs[index], remote, index)
        assert (dbs[index].point1, dbs[index].point2) == (30, 30)
    assert sorted(remote.puts) == sorted(f"o{i}" for i in range(1, 31))
    assert len(remote.puts) == len(set(remote.puts)) == 30


def test_points_do_not_move_past_a_row_the_remote_did_not_acknowledge():
    remote = FakeRemote()
    db = FakeDb(9)
    remote.refuse = {"o6"}  # owned by replica 0 (6 % 3)
    progress = sync_pass(db, remote, 0)
    assert progress.failed == 1
    assert db.point1 == 5  # o3 sent; stops before o6, tried again next pass
    remote.refuse.clear()
    sync_pass(db, remote, 0)
    assert db.point1 == 9
    assert "o6" in remote.puts and "o9" in remote.puts


def test_point2_stays_before_the_first_row_not_confirmed():
    remote = FakeRemote()
    db = FakeDb(9)
    sync_pass(db, remote, 0)  # sends o3, o6, o9; point1 = 9
    remote.refuse = {"o4"}
    progress = sync_pass(db, remote, 0)
    assert progress.failed == 1
    assert db.point2 == 3  # o1, o2 confirmed (sent now), o3 is its own
    assert "o5" in remote.puts  # later rows still went
    remote.refuse.clear()
    sync_pass(db, remote, 0)
    assert db.point2 == 9


def test_a_remote_down_moves_no_point():
    remote = FakeRemote()
    remote.down = True
    db = FakeDb(5)
    sync_pass(db, remote, 0)
    assert db.point1 == 2  # rows 1 and 2 are others': looked at; row 3 failed
    assert db.point2 == -1
    assert remote.puts == []


def test_time_budget_resumes_where_it_stopped():
    remote = FakeRemote()
    db = FakeDb(10)
    progress = sync_pass(db, remote, 0, replicas=1, budget=4)
    assert not progress.finished
    assert db.point1 == 4
    sync_pass(db, remote, 0, replicas=1)
    assert remote.puts == [f"o{i}" for i in range(1, 11)]  # none twice, none missed


def test_killed_before_the_points_are_saved_sends_again_but_loses_nothing():
    remote = FakeRemote()
    db = FakeDb(10)
    saved = (db.point1, db.point2)

    def lost_save(point1, point2) -> None:  # a kill -9 before any save
        pass

    run_sync_points(db.point1, db.point2, db.items_since, lambda row: True, remote.send,
                    lost_save, lambda: False)
    assert (db.point1, db.point2) == saved
    sync_pass(db, remote, 0, replicas=1)
    assert set(remote.puts) == {f"o{i}" for i in range(1, 11)}
