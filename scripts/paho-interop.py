#!/usr/bin/env python3
"""Run the Eclipse Paho MQTT interoperability client tests against a broker.

The suite (github.com/eclipse/paho.mqtt.testing, directory `interoperability/`)
is NOT vendored here; check it out somewhere (e.g. /tmp/paho-testing) and pass
its `interoperability` directory with --suite.

Usage:
    python3 scripts/paho-interop.py --suite /tmp/paho-testing/interoperability \
        --host 127.0.0.1 --port 1883 [--only NAME ...] [--skip NAME ...]
    python3 scripts/paho-interop.py --suite /tmp/paho-testing/interoperability \
        --suite5 --port 1883          # MQTT 5.0: client_test5.py

--module picks the suite file: client_test (MQTT 3.1.1, the default) or
client_test5 (MQTT 5.0); --suite5 is short for --module client_test5.
client_test5's test_server_keep_alive expects Server Keep Alive 60: start
Petrel with `mqtt: {max_keepalive: 60}` in its config for the 5.0 suite.

Python: only the standard library is needed (the suite ships its own MQTT
client in interoperability/mqtt/). Works with both /usr/bin/python3 (Debian
3.11.2) and the pyenv `python3` (3.11.7); validated with both.

client_test.py and client_test5.py only configure themselves (host, port,
topic tables) inside their `if __name__ == "__main__"` blocks, so this runner
imports the chosen one as a module and sets those module globals itself
before running the unittest cases. (client_test5's setUpClass resets the
topic tables through its own setData(); host and port are ours to set.)

Exit code: 0 if every selected test passed, 1 if any failed/errored,
2 on usage errors or when the --timeout watchdog fires.
"""

import argparse
import faulthandler
import importlib
import logging
import os
import sys
import threading
import time
import unittest

# Values the suite's __main__ block assigns (kept identical so results are
# comparable with running client_test.py directly).
DEFAULT_TOPICS = ("TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA")
DEFAULT_WILDTOPICS = ("TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#")
DEFAULT_NOSUBSCRIBE = ("test/nosubscribe",)

# client_test5's __main__ also sets a topic prefix, which test_shared_subscriptions reads.
TOPIC_PREFIX5 = "client_test5/"

# Suite files this runner knows how to configure.
MODULES = ("client_test", "client_test5")


def parse_args(argv):
    p = argparse.ArgumentParser(description="Paho MQTT interop client tests runner")
    p.add_argument("--suite", required=True,
                   help="path to paho.mqtt.testing/interoperability")
    p.add_argument("--module", choices=MODULES, default="client_test",
                   help="suite file to run: client_test (3.1.1, default) or client_test5 (5.0)")
    p.add_argument("--suite5", action="store_true",
                   help="run the MQTT 5.0 suite (same as --module client_test5)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help="run only this test method (repeatable). Also accepts "
                        "'will_message_test', which the suite defines but never runs")
    p.add_argument("--skip", action="append", default=[], metavar="NAME",
                   help="skip this test method (repeatable)")
    p.add_argument("--nosubscribe-topic", default=DEFAULT_NOSUBSCRIBE[0],
                   help="topic the broker denies subscriptions to (default %(default)s)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="abort the whole run after this many seconds (default %(default)s)")
    p.add_argument("--list", action="store_true", help="list test names and exit")
    p.add_argument("--debug", action="store_true", help="enable suite debug logging")
    return p.parse_args(argv)


def die(msg):
    sys.stderr.write("paho-interop: %s\n" % msg)
    sys.exit(2)


def load_suite_module(suite_dir, name):
    suite_dir = os.path.abspath(suite_dir)
    if not os.path.isfile(os.path.join(suite_dir, name + ".py")):
        die("%s has no %s.py" % (suite_dir, name))
    # The suite imports its client as the top-level package `mqtt`.
    sys.path.insert(0, suite_dir)
    return importlib.import_module(name)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    module = "client_test5" if args.suite5 else args.module
    ct = load_suite_module(args.suite, module)

    # Same globals the suite's __main__ block sets.
    ct.host = args.host
    ct.port = args.port
    ct.topics = DEFAULT_TOPICS
    ct.wildtopics = DEFAULT_WILDTOPICS
    ct.nosubscribe_topics = (args.nosubscribe_topic,)
    if module == "client_test5":
        # Used as is by test_shared_subscriptions (its setData() does not set it).
        ct.topic_prefix = TOPIC_PREFIX5

    logging.getLogger().setLevel(logging.DEBUG if args.debug else logging.ERROR)

    loader = unittest.TestLoader()
    default_names = list(loader.getTestCaseNames(ct.Test))  # sorted, like unittest.main
    if args.list:
        for n in default_names:
            print(n)
        if callable(getattr(ct.Test, "will_message_test", None)):
            print("will_message_test  (defined but not run by default)")
        return 0

    if args.only:
        names = []
        for n in args.only:
            if not callable(getattr(ct.Test, n, None)):
                die("unknown test %r; known: %s" % (n, ", ".join(default_names)))
            names.append(n)
        # Keep suite order (tests share broker/client state between them).
        names.sort(key=lambda n: (default_names.index(n) if n in default_names else len(default_names), n))
    else:
        names = default_names
    for n in args.skip:
        if n not in default_names and not hasattr(ct.Test, n):
            die("unknown test %r in --skip" % n)
    names = [n for n in names if n not in args.skip]
    if not names:
        die("no tests selected")

    def watchdog():
        time.sleep(args.timeout)
        sys.stdout.flush()
        sys.stderr.write("\npaho-interop: timeout after %.0fs; thread stacks:\n" % args.timeout)
        faulthandler.dump_traceback(all_threads=True)
        print("paho interop: TIMEOUT (aborted)", flush=True)
        os._exit(2)

    threading.Thread(target=watchdog, daemon=True).start()

    print("paho interop: %s, broker %s:%d, tests: %s"
          % (module, args.host, args.port, " ".join(names)), flush=True)
    suite = unittest.TestSuite(ct.Test(n) for n in names)
    started = time.time()
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    elapsed = time.time() - started

    failed = {t.id().rsplit(".", 1)[-1] for t, _ in result.failures + result.errors}
    # An error in setUpClass (broker unreachable) shows up as a pseudo-test.
    setup_error = any(not isinstance(t, unittest.TestCase) or "setUpClass" in str(t)
                      for t, _ in result.errors)
    if setup_error:
        failed = set(names)
    passed = [n for n in names if n not in failed]

    print("\nper-test results:")
    for n in names:
        print("  %-32s %s" % (n, "FAIL" if n in failed else "ok"))
    print("elapsed %.1fs" % elapsed)
    print("paho interop (%s): %d passed, %d failed" % (module, len(passed), len(names) - len(passed)),
          flush=True)
    return 0 if not failed and result.wasSuccessful() else 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # The suite's client leaves receiver threads behind; don't wait for them.
    os._exit(code)
