package io.hybridrec.streaming;

import java.io.IOException;

import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

import io.hybridrec.features.EntityState;
import io.hybridrec.features.StateCodec;

/**
 * How checkpoints and savepoints hold an {@link EntityState}: {@link StateCodec}'s explicit, versioned layout (no
 * Kryo, no POJO rules). The snapshot records the format version it was written with; every format this code reads
 * restores as is, and the operator re-shapes a state saved under another spec on first access.
 */
public final class EntityStateSerializer extends TypeSerializer<EntityState> {
    private static final long serialVersionUID = 1L;

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public TypeSerializer<EntityState> duplicate() {
        return this;  // stateless
    }

    @Override
    public EntityState createInstance() {
        return null;
    }

    @Override
    public EntityState copy(EntityState from) {
        return from.copy();
    }

    @Override
    public EntityState copy(EntityState from, EntityState reuse) {
        return from.copy();
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(EntityState record, DataOutputView target) throws IOException {
        StateCodec.write(record, target);
    }

    @Override
    public EntityState deserialize(DataInputView source) throws IOException {
        return StateCodec.read(source);
    }

    @Override
    public EntityState deserialize(EntityState reuse, DataInputView source) throws IOException {
        return StateCodec.read(source);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        StateCodec.write(StateCodec.read(source), target);
    }

    @Override
    public boolean equals(Object obj) {
        return obj instanceof EntityStateSerializer;
    }

    @Override
    public int hashCode() {
        return EntityStateSerializer.class.hashCode();
    }

    @Override
    public TypeSerializerSnapshot<EntityState> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Records the state format; any format {@link StateCodec} reads is compatible as is. */
    public static final class Snapshot implements TypeSerializerSnapshot<EntityState> {
        private int format = StateCodec.FORMAT;

        @Override
        public int getCurrentVersion() {
            return StateCodec.FORMAT;
        }

        @Override
        public void writeSnapshot(DataOutputView out) {
        }

        @Override
        public void readSnapshot(int readVersion, DataInputView in, ClassLoader classLoader) {
            format = readVersion;
        }

        @Override
        public TypeSerializer<EntityState> restoreSerializer() {
            return new EntityStateSerializer();
        }

        @Override
        public TypeSerializerSchemaCompatibility<EntityState> resolveSchemaCompatibility(
                TypeSerializerSnapshot<EntityState> oldSnapshot) {
            if (!(oldSnapshot instanceof Snapshot) || ((Snapshot) oldSnapshot).format > StateCodec.FORMAT) {
                return TypeSerializerSchemaCompatibility.incompatible();
            }
            return TypeSerializerSchemaCompatibility.compatibleAsIs();
        }
    }
}
