// A shared library that is not a Berth plugin: it exports no berth_plugin_info.
extern "C" __attribute__((visibility("default"))) int notAPlugin()
{
    return 42;
}
