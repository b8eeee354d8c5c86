// A shared library without attnbench_backend_entry: the loader must refuse it.
extern "C" __attribute__((visibility("default"))) int not_an_attnbench_plugin(void) { return 42; }
