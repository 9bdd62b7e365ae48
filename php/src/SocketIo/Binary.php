<?php

declare(strict_types=1);

namespace HttpSock\SocketIo;

/**
 * A binary argument of a Socket.IO event: bytes that travel as a binary attachment (a Node
 * `Buffer`, a browser `ArrayBuffer`), not as a JSON string.
 *
 * PHP strings cannot tell text from bytes, so the rule is:
 * - Received: every binary attachment arrives as a Binary, where the client put it (at any
 *   depth in arrays). `(string) $binary` or `$binary->data` are its bytes.
 * - Sent: a Binary (at any depth in the arguments) is sent as a binary attachment; a string
 *   that is not valid UTF-8 is sent as one too (JSON cannot carry it); any other string is
 *   sent as a JSON string.
 *
 * So a handler that returns what it got sends binaries back as binaries.
 */
final class Binary implements \JsonSerializable, \Stringable
{
    public function __construct(public readonly string $data)
    {
    }

    /** The bytes. */
    public function __toString(): string
    {
        return $this->data;
    }

    /**
     * The Socket.IO placeholder `{"_placeholder":true,"num":N}` while Codec encodes arguments
     * (the bytes become attachment N); elsewhere the bytes base64-encoded (a json_encode() of
     * one's own).
     */
    public function jsonSerialize(): mixed
    {
        return Codec::placeholder($this->data) ?? base64_encode($this->data);
    }
}
