"""The statements every group message runs are compiled once per process, on SQLite and
on PostgreSQL: SQLAlchemy's dialect INSERT … ON CONFLICT is never cached, so these are
written as SQL built once (``bot.storage.database.shared_sql``); and a group message's
writes are one transaction once its chat's settings and the opt-outs are cached."""

from __future__ import annotations

from sqlalchemy import event

from bot.storage import Storage


async def test_a_group_messages_statements_come_from_the_compiled_cache(database: str) -> None:
    async with await Storage.open(database) as storage:
        runs: list[list[tuple[str, str]]] = []
        commits: list[int] = []

        def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
            if context is not None and context.compiled is not None:
                runs[-1].append((" ".join(statement.split()[:3]), context.cache_hit.name))

        engine = storage._db.engine.sync_engine  # the test watches the bot's own engine
        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine, "commit", lambda conn: commits.append(len(runs)))
        for i in range(20):
            runs.append([])
            assert await storage.inbox.receive(i, "{}")
            if not await storage.mood_optouts.is_out(7):
                steps = [("좋다", 0.1), (f"단어{i % 3}", -0.2)]
                await storage.mood.add_score(
                    -1, 7, 0.6, "v1", 1e9 + i, "좋다", i, steps=steps, update_id=i
                )
            await storage.chats.chat_settings(-1)
            await storage.inbox.handled(i)  # committed with the score already
        event.remove(engine, "before_cursor_execute", on_execute)
        assert await storage.inbox.count_unhandled() == 0
        hot = [
            ("INSERT INTO inbox", "CACHE_HIT"),
            ("INSERT INTO mood_scores", "CACHE_HIT"),
            ("INSERT INTO mood_words", "CACHE_HIT"),
            ("UPDATE inbox SET", "CACHE_HIT"),
        ]
        # After the first message: four statements, all compiled before, no reads (the
        # settings and the opt-outs are cached), two commits.
        assert all(run == hot for run in runs[1:]), runs[1:3]
        assert all(commits.count(message) == 2 for message in range(2, 21)), commits
