"""`kassa demo` (make demo): the whole chain on this computer, on embedded
defaults: a relay on SQLite, HO, a gateway and two sim tills selling a
scripted day. catalog: the demo store's data; day: what the cashiers key;
procs: the child processes and their ends; run: the orchestration."""
