/* libfz with its internals, for the tests and tools built in this tree
 * (they link the internal library); not installed. */
#pragma once

#include "fz.h"

#include "fz-allocation-private.h"
#include "fz-dns-pattern-private.h"
#include "fz-dns-resource-set-private.h"
#include "fz-dns-stub-private.h"
#include "fz-dns-tcp-private.h"
#include "fz-filter-set-private.h"
#include "fz-ice-agent-private.h"
#include "fz-ip-prefix-private.h"
#include "fz-ip-table-private.h"
#include "fz-nat-table-private.h"
#include "fz-p2p-control-private.h"
#include "fz-proxy-ips-private.h"
#include "fz-stun-message-private.h"
#include "fz-timer-heap-private.h"
#include "fz-tun-private.h"
#include "fz-udp-socket-private.h"
#include "fz-vnet-private.h"
#include "fz-wg-crypto-private.h"
#include "fz-wg-device-private.h"
#include "fz-wg-handshake-private.h"
#include "fz-wg-index-private.h"
#include "fz-wg-replay-private.h"
#include "fz-wg-session-private.h"
