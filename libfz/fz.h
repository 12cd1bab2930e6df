/* libfz: the whole public API. */
#pragma once

#include "fz-version.h"
#include "fz-ip-addr.h"
#include "fz-checksum.h"
#include "fz-packet-buf.h"
#include "fz-buf-pool.h"
#include "fz-ip-packet.h"
#include "fz-ip-packet-build.h"
#include "fz-rng.h"
#include "fz-wg-crypto.h"
#include "fz-wg-replay.h"
#include "fz-wg-index.h"
#include "fz-wg-handshake.h"
#include "fz-wg-session.h"
#include "fz-wg-device.h"
#include "fz-tun.h"
#include "fz-udp-socket.h"
