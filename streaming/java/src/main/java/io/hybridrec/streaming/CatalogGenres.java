package io.hybridrec.streaming;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.PartitionInfo;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.TopicPartition;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.serialization.ByteArrayDeserializer;

import com.google.protobuf.InvalidProtocolBufferException;

import hybridrec.v1.Events.CatalogItem;

import io.hybridrec.features.CatalogVectors;
import io.hybridrec.features.FreshSpec;

/**
 * Item genres for the genre vectors: the compacted {@code catalog} topic ({@code CatalogItem} by item_id) read to
 * its end at start, re-read (at most every {@code catalog_refresh_ms}) when an unknown item shows up; an item still
 * unknown counts as genre Other.
 *
 * <p>The Kafka client is the one shaded inside the Flink Kafka connector jar the job already ships. A
 * {@code CatalogItem} that does not parse is skipped (the catalog is not the job's input contract, and a bad entry
 * must not stop the features).
 */
final class CatalogGenres extends CatalogVectors {
    private static final long READ_TIMEOUT_MS = 30_000;

    private long readAtMs;

    CatalogGenres(FreshSpec spec) {
        super(spec, read(spec));
        this.readAtMs = System.currentTimeMillis();
    }

    @Override
    protected void missed(String itemId) {
        if (System.currentTimeMillis() - readAtMs >= spec.catalogRefreshMs) {
            genres = read(spec);
            readAtMs = System.currentTimeMillis();
        }
    }

    private static Map<String, List<String>> read(FreshSpec spec) {
        Map<String, List<String>> out = new HashMap<>();
        if (spec.bootstrapServers.isEmpty()) {
            return out;
        }
        Properties props = new Properties();
        props.put("bootstrap.servers", spec.bootstrapServers);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        long deadline = System.currentTimeMillis() + READ_TIMEOUT_MS;
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<PartitionInfo> infos = consumer.partitionsFor(spec.catalogTopic, Duration.ofMillis(READ_TIMEOUT_MS));
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo p : infos == null ? new ArrayList<PartitionInfo>() : infos) {
                parts.add(new TopicPartition(p.topic(), p.partition()));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> ends = consumer.endOffsets(parts, Duration.ofMillis(READ_TIMEOUT_MS));
            Set<TopicPartition> pending = new HashSet<>();
            for (TopicPartition tp : parts) {
                if (consumer.position(tp, Duration.ofMillis(READ_TIMEOUT_MS)) < ends.get(tp)) {
                    pending.add(tp);
                }
            }
            while (!pending.isEmpty() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> rec : consumer.poll(Duration.ofMillis(500))) {
                    if (rec.value() != null) {
                        parseInto(rec.value(), out);
                    }
                }
                pending.removeIf(tp -> consumer.position(tp) >= ends.get(tp));
            }
        }
        return out;
    }

    /** The latest entry per item wins; a record that does not parse is skipped. */
    static void parseInto(byte[] b, Map<String, List<String>> out) {
        try {
            CatalogItem item = CatalogItem.parseFrom(b);
            out.put(item.getItemId(), new ArrayList<>(item.getGenresList()));
        } catch (InvalidProtocolBufferException e) {
            // not the job's input contract: a bad catalog entry must not stop the features
        }
    }
}
