// libFuzzer target for the configuration parser, the typed getters and the validator.
// Seed corpus: fuzz/corpus/config/. Includes are not followed: an input must not make the
// fuzzer read files (`additional_confs = /dev/zero`).
#include "config/config.h"
#include "config/dump.h"
#include "config/validator.h"

#include <cstddef>
#include <cstdint>

using namespace Berth::Config;
using namespace Qt::StringLiterals;

// Getters log a warning for keys the schema does not know, which random input is full of.
extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) {});
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const QString text = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    const Config config = Config::fromText(text, u"fuzz.conf"_s, Config::Includes::Ignore);

    // Every value through every getter: they must return (a value or the default) and record
    // at most one diagnostic per bad value, never crash or assert.
    for (const QString &name : config.sectionNames()) {
        const Section *section = config.section(name);
        if (!section)
            __builtin_trap(); // sectionNames() and section() disagree
        for (const Entry &entry : section->entries) {
            config.getString(name, entry.key);
            config.getInt(name, entry.key);
            config.getFloat(name, entry.key);
            config.getBool(name, entry.key);
            config.getSize(name, entry.key);
            config.getDuration(name, entry.key);
            config.getList(name, entry.key);
            config.getPath(name, entry.key);
        }
        for (const RawLine &line : section->lines)
            Values::parseList(line.text);
    }

    const Diagnostics diagnostics = validate(config);
    for (const Diagnostic &d : diagnostics) {
        if (!d.location.isValid())
            __builtin_trap(); // every finding about text must point into it
    }
    formatDiagnostics(diagnostics);
    dumpConfig(config); // berthd check -T
    Schema::builtin().appKeys(config.getString(u"app:x"_s, u"call"_s));
    return 0;
}
