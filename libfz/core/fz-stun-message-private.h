/* FzStunMessage: the STUN codec (RFC 8489) with the attributes TURN
 * (RFC 8656) and ICE (RFC 8445) use.
 *
 * Parsing is strict and copies nothing: the message borrows the datagram
 * and records where each attribute's value is. Known attributes are
 * checked for their exact lengths at parse time, so getters never read
 * out of bounds. A wrong FINGERPRINT rejects the message; integrity is
 * checked separately because only the caller knows the key.
 *
 * FzStunWriter builds a message into a caller's buffer; an overflow is
 * remembered and reported once by fz_stun_writer_finish(). */
#pragma once

#include "fz-ip-addr.h"

#include <glib.h>

G_BEGIN_DECLS

#define FZ_STUN_MAGIC_COOKIE  0x2112A442u
#define FZ_STUN_HEADER_LEN    20
#define FZ_STUN_TID_LEN       12
#define FZ_STUN_INTEGRITY_LEN 20
#define FZ_STUN_MAX_ATTRS     32
#define FZ_STUN_MAX_UNKNOWN   8
/* Longest USERNAME (RFC 8489 14.3) and REALM/NONCE/SOFTWARE/reason
 * phrase (763 bytes, 14.9). */
#define FZ_STUN_MAX_USERNAME 513
#define FZ_STUN_MAX_TEXT     763

typedef enum
{
  FZ_STUN_REQUEST = 0,
  FZ_STUN_INDICATION = 1,
  FZ_STUN_SUCCESS = 2,
  FZ_STUN_ERROR = 3,
} FzStunClass;

typedef enum
{
  FZ_STUN_BINDING = 0x001,
  FZ_STUN_ALLOCATE = 0x003,
  FZ_STUN_REFRESH = 0x004,
  FZ_STUN_SEND = 0x006,
  FZ_STUN_DATA = 0x007,
  FZ_STUN_CREATE_PERMISSION = 0x008,
  FZ_STUN_CHANNEL_BIND = 0x009,
} FzStunMethod;

/* Attribute types; below 0x8000 the receiver must understand them. */
enum
{
  FZ_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
  FZ_STUN_ATTR_USERNAME = 0x0006,
  FZ_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
  FZ_STUN_ATTR_ERROR_CODE = 0x0009,
  FZ_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
  FZ_STUN_ATTR_CHANNEL_NUMBER = 0x000C,
  FZ_STUN_ATTR_LIFETIME = 0x000D,
  FZ_STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
  FZ_STUN_ATTR_DATA = 0x0013,
  FZ_STUN_ATTR_REALM = 0x0014,
  FZ_STUN_ATTR_NONCE = 0x0015,
  FZ_STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
  FZ_STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
  FZ_STUN_ATTR_EVEN_PORT = 0x0018,
  FZ_STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
  FZ_STUN_ATTR_DONT_FRAGMENT = 0x001A,
  FZ_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
  FZ_STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
  FZ_STUN_ATTR_USERHASH = 0x001E,
  FZ_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
  FZ_STUN_ATTR_RESERVATION_TOKEN = 0x0022,
  FZ_STUN_ATTR_PRIORITY = 0x0024,
  FZ_STUN_ATTR_USE_CANDIDATE = 0x0025,
  FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
  FZ_STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
  FZ_STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
  FZ_STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
  FZ_STUN_ATTR_ICMP = 0x8004,
  FZ_STUN_ATTR_SOFTWARE = 0x8022,
  FZ_STUN_ATTR_ALTERNATE_SERVER = 0x8023,
  FZ_STUN_ATTR_FINGERPRINT = 0x8028,
  FZ_STUN_ATTR_ICE_CONTROLLED = 0x8029,
  FZ_STUN_ATTR_ICE_CONTROLLING = 0x802A,
  FZ_STUN_ATTR_RESPONSE_ORIGIN = 0x802B,
  FZ_STUN_ATTR_OTHER_ADDRESS = 0x802C,
  /* The code points of the draft that became RFC 8656 dual allocation,
   * which coturn 4.6 still uses. */
  FZ_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY_DRAFT = 0x8032,
  FZ_STUN_ATTR_ADDRESS_ERROR_CODE_DRAFT = 0x8033,
  /* ICE renomination (draft-thatcher-ice-renomination): a counter next
   * to USE-CANDIDATE; optional, so other agents ignore it. */
  FZ_STUN_ATTR_NOMINATION = 0xC001,
};

/* Error codes this project sends or acts on. */
enum
{
  FZ_STUN_ERR_BAD_REQUEST = 400,
  FZ_STUN_ERR_UNAUTHORIZED = 401,
  FZ_STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
  FZ_STUN_ERR_ALLOCATION_MISMATCH = 437,
  FZ_STUN_ERR_STALE_NONCE = 438,
  FZ_STUN_ERR_ADDRESS_FAMILY = 440,
  FZ_STUN_ERR_WRONG_CREDENTIALS = 441,
  FZ_STUN_ERR_UNSUPPORTED_TRANSPORT = 442,
  FZ_STUN_ERR_QUOTA = 486,
  FZ_STUN_ERR_ROLE_CONFLICT = 487,
  FZ_STUN_ERR_SERVER_ERROR = 500,
  FZ_STUN_ERR_INSUFFICIENT_CAPACITY = 508,
};

#define FZ_STUN_PARSE_ERROR (fz_stun_parse_error_quark ())
GQuark fz_stun_parse_error_quark (void);

typedef enum
{
  FZ_STUN_PARSE_ERROR_NOT_STUN,   /* header: size, zero bits, cookie */
  FZ_STUN_PARSE_ERROR_MALFORMED,  /* attributes */
  FZ_STUN_PARSE_ERROR_FINGERPRINT /* CRC-32 does not match */
} FzStunParseError;

typedef struct
{
  guint16 type;
  guint16 len;
  guint16 offset; /* of the value, from the start of the message */
} FzStunAttr;

typedef struct
{
  const guint8 *data; /* borrowed */
  gsize len;
  FzStunMethod method;
  FzStunClass klass;
  guint8 tid[FZ_STUN_TID_LEN];
  FzStunAttr attrs[FZ_STUN_MAX_ATTRS]; /* up to MESSAGE-INTEGRITY */
  guint n_attrs;
  gint integrity; /* offset of the MESSAGE-INTEGRITY header, or -1 */
  gboolean fingerprint;
  /* Comprehension-required attributes we do not know: a request with
   * any gets 420, a response with any fails its transaction. */
  guint16 unknown[FZ_STUN_MAX_UNKNOWN];
  guint n_unknown;
} FzStunMessage;

/* TRUE if the first bytes look like STUN (top bits 0, magic cookie);
 * cheap, for demultiplexing before a full parse. */
gboolean fz_stun_is_stun (const guint8 *data, gsize len);
gboolean fz_stun_message_parse (FzStunMessage *msg, const guint8 *data, gsize len,
                                GError **error);

const FzStunAttr *fz_stun_message_find (const FzStunMessage *msg, guint16 type);
gboolean fz_stun_message_has (const FzStunMessage *msg, guint16 type);
gboolean fz_stun_message_get_u32 (const FzStunMessage *msg, guint16 type, guint32 *out);
gboolean fz_stun_message_get_u64 (const FzStunMessage *msg, guint16 type, guint64 *out);
/* A newly allocated, NUL-terminated copy; NULL if absent or if it holds
 * a NUL byte. */
char *fz_stun_message_dup_string (const FzStunMessage *msg, guint16 type);
const guint8 *fz_stun_message_get_bytes (const FzStunMessage *msg, guint16 type,
                                         gsize *len);
/* XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS or XOR-RELAYED-ADDRESS. With two
 * of the same type (a dual-stack allocation), index picks one. */
gboolean fz_stun_message_get_xor_address (const FzStunMessage *msg, guint16 type,
                                          guint index, FzSockAddr *out);
gboolean fz_stun_message_get_error (const FzStunMessage *msg, guint *code, char **reason);
gboolean fz_stun_message_get_channel (const FzStunMessage *msg, guint16 *channel);

/* Checks MESSAGE-INTEGRITY with the key in constant time. FALSE when the
 * attribute is missing or wrong. */
gboolean fz_stun_message_check_integrity (const FzStunMessage *msg, const guint8 *key,
                                          gsize key_len);

/* The long-term key: MD5(username ":" realm ":" password). Passwords are
 * used as given; SASLprep is left to whoever configures them. */
void fz_stun_long_term_key (const char *username, const char *realm, const char *password,
                            guint8 key[16]);

typedef struct
{
  guint8 *buf;
  gsize cap;
  gsize len;
  gboolean overflow;
} FzStunWriter;

void fz_stun_writer_init (FzStunWriter *w, guint8 *buf, gsize cap, FzStunMethod method,
                          FzStunClass klass, const guint8 tid[FZ_STUN_TID_LEN]);
void fz_stun_writer_add (FzStunWriter *w, guint16 type, const void *value, gsize len);
void fz_stun_writer_add_u32 (FzStunWriter *w, guint16 type, guint32 value);
void fz_stun_writer_add_u64 (FzStunWriter *w, guint16 type, guint64 value);
void fz_stun_writer_add_string (FzStunWriter *w, guint16 type, const char *value);
void fz_stun_writer_add_xor_address (FzStunWriter *w, guint16 type,
                                     const FzSockAddr *addr);
void fz_stun_writer_add_error (FzStunWriter *w, guint code, const char *reason);
void fz_stun_writer_add_integrity (FzStunWriter *w, const guint8 *key, gsize key_len);
void fz_stun_writer_add_fingerprint (FzStunWriter *w);
/* The message length, or 0 if it did not fit. */
gsize fz_stun_writer_finish (FzStunWriter *w);

/* TURN ChannelData (RFC 8656 12.4): a 4-byte header in front of the
 * payload. Channels are 0x4000-0x4FFF; over UDP the length must match
 * the datagram, allowing only the up-to-3 padding bytes. */
#define FZ_CHANNEL_DATA_HEADER_LEN 4
#define FZ_CHANNEL_MIN             0x4000
#define FZ_CHANNEL_MAX             0x4FFF

gboolean fz_channel_data_parse (const guint8 *data, gsize len, guint16 *channel,
                                const guint8 **payload, gsize *payload_len);
void fz_channel_data_write_header (guint8 header[FZ_CHANNEL_DATA_HEADER_LEN],
                                   guint16 channel, gsize payload_len);

/* What the first byte of a datagram says (RFC 7983): STUN, ChannelData
 * or something else (WireGuard's message types are 1-4, but it is told
 * apart by the magic cookie of STUN instead). */
static inline gboolean
fz_is_channel_data (const guint8 *data, gsize len)
{
  return len >= FZ_CHANNEL_DATA_HEADER_LEN && data[0] >= 64 && data[0] <= 79;
}

G_END_DECLS
