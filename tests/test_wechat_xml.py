"""The webhook's own reading of WeChat's XML and its safe-mode envelope, against wechatpy's (xmltodict's) own."""

from __future__ import annotations

import base64
from xml.sax.saxutils import escape, quoteattr

import pytest
import xmltodict  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto
from wechatpy.crypto.base import BasePrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from adapters.wechat.parse import Envelope
from adapters.wechat.xmldict import xml_dict

TOKEN, APP_ID = "token-xml", "wx-app-xml"
AES_KEY = base64.b64encode(b"k" * 32).decode().rstrip("=")
_names = st.sampled_from(["xml", "MsgType", "Content", "p:Key", "A"])
_texts = st.text(alphabet=st.sampled_from(" \n\tab字<&]>'\""), max_size=6)


@st.composite
def _elements(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(_names)
    attributes = draw(st.dictionaries(st.sampled_from(["a", "xmlns", "b:c"]), _texts, max_size=2))
    opened = name + "".join(f" {key}={quoteattr(value)}" for key, value in attributes.items())
    texts = _texts.map(escape)
    inner = "".join(draw(st.lists(texts if depth >= 2 else st.one_of(texts, _elements(depth + 1)), max_size=4)))
    cdata = draw(st.sampled_from(["", "<![CDATA[ x]]>", "<!-- c -->"]))
    return f"<{opened}>{inner}{cdata}</{name}>"


@given(_elements())
def test_xml_dict_reads_as_xmltodict_does(xml: str) -> None:
    assert repr(xml_dict(xml)) == repr(xmltodict.parse(xml))


@pytest.mark.parametrize("bad", ["", "<xml>", "<a></b>", "<xml/><x/>", "<xml><p:A/></xml >&e;"])
def test_xml_dict_refuses_what_xmltodict_refuses(bad: str) -> None:
    with pytest.raises(Exception) as ours:
        xml_dict(bad)
    with pytest.raises(Exception) as theirs:
        xmltodict.parse(bad)
    assert type(ours.value) is type(theirs.value)


def test_the_sealed_reply_is_wechatpys_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BasePrpCrypto, "get_random_string", lambda _: "0123456789abcdef")
    reply = "<xml><Content><![CDATA[你好]]></Content></xml>"
    expected = WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(reply, "nonce-1", "1700000000")
    assert Envelope(TOKEN, AES_KEY, APP_ID).seal(reply, "nonce-1", "1700000000") == expected


def test_an_envelope_opens_what_wechatpy_sealed() -> None:
    message = "<xml><Content><![CDATA[内科]]></Content></xml>"
    sealed = xmltodict.parse(WeChatCrypto(TOKEN, AES_KEY, APP_ID).encrypt_message(message, "n", "1"))["xml"]
    assert Envelope(TOKEN, AES_KEY, APP_ID).open(sealed["Encrypt"]) == message
    with pytest.raises(InvalidAppIdException):  # sealed for another account
        Envelope(TOKEN, AES_KEY, "wx-other").open(sealed["Encrypt"])
