"""Second-generation resident ID card reader (SAM_V module) wire constants.

Sources: libsamv.h (command and SW3 names, SW positions),
dathlin/HslCommunication ``Profinet/IDCard/SAMSerial.cs`` (framing, checksum, text offsets;
https://github.com/dathlin/HslCommunication),
hev-dbus-object-idcard-reader.c (byte-exact request frames), node-idcard-reader (card latch).
"""

from __future__ import annotations

from enum import IntEnum

#: every frame starts with this preamble
PREAMBLE = bytes.fromhex("AAAAAA9669")
#: largest LEN accepted (the read-with-fingerprint reply is the largest documented frame)
MAX_LEN = 0x1000


class Command(IntEnum):
    """(CMD << 8) | PARA, as libsamv.h names them."""

    #: reset the SAM (self-test)
    RESET = 0x10FF
    #: SAM status (the health poll)
    STATUS_DETECT = 0x11FF
    #: read the SAM id (管理信息)
    READ_MANAGEINFO = 0x12FF
    #: find card (寻卡), success SW3 = 0x9F
    FIND = 0x2001
    #: select card (选卡)
    SELECT = 0x2002
    #: read text and photo (读基本信息)
    READ = 0x3001
    #: read appended address (追加住址)
    EXTINFO = 0x3003


class Sw3(IntEnum):
    """SW3 result codes (libsamv.h; HslCommunication SAMStatus*)."""

    OK = 0x90
    FIND_OK = 0x9F
    NO_CONTENT = 0x91
    FIND_FAILED = 0x80
    SELECT_FAILED = 0x81
    CHECKSUM_ERROR = 0x10
    LENGTH_ERROR = 0x11
    COMMAND_ERROR = 0x21
    PRIVILEGE_VIOLATION = 0x23
    UNKNOWN_ERROR = 0x24
    CARD_AUTH_SAM_FAILED = 0x31
    SAM_AUTH_CARD_FAILED = 0x32
    VERIFY_ERROR = 0x33
    UNKNOWN_CARD_TYPE = 0x40
    READ_FAILED = 0x41
    RANDOM_FAILED = 0x47
    #: SAM self-test failed; it refuses commands
    SAM_SELFTEST_FAILED = 0x60
    #: SAM not authorised
    SAM_UNAUTHORISED = 0x66


#: text layout of the 256-byte UCS-2LE block: field -> (start, end) in characters
TEXT_FIELDS: dict[str, tuple[int, int]] = {
    "name": (0, 15), "sex": (15, 16), "nation": (16, 18), "birth": (18, 26), "address": (26, 61),
    "id_number": (61, 79), "authority": (79, 94), "valid_from": (94, 102), "valid_to": (102, 110),
}
TEXT_BYTES = 256
PHOTO_BYTES = 1024

SEX = {"1": "男", "2": "女", "0": "未知", "9": "未说明"}

#: GB 3304 nationality codes as printed on the card
NATIONS = dict(enumerate((
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶", "白", "土家",
    "哈尼", "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水", "东乡", "纳西", "景颇", "柯尔克孜",
    "土", "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南", "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒",
    "乌孜别克", "俄罗斯", "鄂温克", "德昂", "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴",
    "珞巴", "基诺"), start=1)) | {97: "其他", 98: "外国血统"}
