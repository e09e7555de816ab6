"""The incident record: what happened during an incident, kept for its timeline and postmortem.

The watch service tells a `Recorder` each thing that happens (bot/record/recorder.py); the
record lives in its own tables (bot/record/store.py), apart from the watch, so it survives
`unwatch` and reads the same from every replica. `timeline.py` turns it into lines and a
summary (pure); bot/render/timeline.py words them for Slack, Markdown and the terminal.
"""
