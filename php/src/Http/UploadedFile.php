<?php

declare(strict_types=1);

namespace HttpSock\Http;

/**
 * A file from a multipart/form-data request body, held in memory.
 */
final class UploadedFile
{
    /**
     * @param string $field The form field name.
     * @param string $name The client's file name.
     * @param string $type The part's Content-Type.
     * @param string $contents The file's bytes.
     */
    public function __construct(
        private string $field,
        private string $name,
        private string $type,
        private string $contents
    ) {
    }

    /** The form field name. */
    public function getField(): string
    {
        return $this->field;
    }

    /** The client's file name (base name only). */
    public function getName(): string
    {
        return basename(str_replace('\\', '/', $this->name));
    }

    /** The Content-Type the client gave the part. */
    public function getType(): string
    {
        return $this->type;
    }

    /** The size in bytes. */
    public function getSize(): int
    {
        return strlen($this->contents);
    }

    /** Always 0 (UPLOAD_ERR_OK): an incomplete body never reaches a handler. */
    public function getError(): int
    {
        return UPLOAD_ERR_OK;
    }

    /** The file's bytes. */
    public function getContents(): string
    {
        return $this->contents;
    }

    /** Writes the file to $path; true on success. */
    public function save(string $path): bool
    {
        return @file_put_contents($path, $this->contents) === strlen($this->contents);
    }

    /** ['name', 'type', 'size', 'error', 'content'], as getFiles() lists it. */
    public function toArray(): array
    {
        return [
            'name' => $this->getName(),
            'type' => $this->type,
            'size' => $this->getSize(),
            'error' => UPLOAD_ERR_OK,
            'content' => $this->contents,
        ];
    }
}
