export declare const STREAM_EVENTS: string[];
