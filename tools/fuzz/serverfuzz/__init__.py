"""The whole-server fuzzer behind tools/fuzz/fuzz-server.

gateway   the moongate under test: its server root, configuration, plugins, process
upstream  the small HTTP/1.1 upstream it proxies to, with slow and odd answers
seeds     requests that are valid or that break one rule of the bad-input catalogue
mutate    byte and line mutations, and the schedule that turns bytes into socket steps
client    runs one case's steps on a socket and reads what comes back
findings  reads the logs for deaths and sanitizer reports, saves and loads cases
"""
