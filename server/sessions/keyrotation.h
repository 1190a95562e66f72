#pragma once

#include <QByteArray>
#include <QString>

#include <optional>

namespace Berth::Sessions {

struct SessionSettings;

// Session key rotation, shared by `berthd keys rotate` and the admin API's keys/rotate: the
// checks on a new key and its registration in the [sessions] store's key chain.

// When a new key activates: empty is now, "+2h" is a duration from now, otherwise an ISO 8601
// time with its zone ("2026-03-01T09:00:00Z"); nullopt with *error (which names `what`, the
// option or field the text came from) when it is none of these.
std::optional<qint64> parseKeyTime(const QString &text, qint64 now, const QString &what,
                                   QString *error);

// Why a new secret (trimmed) is unusable, or an empty string: it must read back unchanged after
// `secret =` in the configuration, be long enough, and differ from the configured one.
QString checkNewSecret(const QByteArray &secret, const QByteArray &current);

// What a rotation registered, for the operator.
struct KeyRotation
{
    QString store;     // the store's description
    QString activates; // ISO 8601 UTC
    int previousKeynum = 0;
};

// Registers key `keynum` with `secret` as the newest key of settings' store, active from `when`
// (seconds since the epoch), the configured key wrapped under it. Opening the store with the
// configured key first proves the configuration holds the newest key, so the chain can't fork.
// Blocks on the store; false with *error.
bool rotateKey(const SessionSettings &settings, int keynum, const QByteArray &secret, qint64 when,
               KeyRotation *done, QString *error);

} // namespace Berth::Sessions
